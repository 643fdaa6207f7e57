"""Plans, subscriptions and provider events in the catalog against a real PostgreSQL database."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from storage.catalog import (
    BillingInterval,
    Catalog,
    Conflict,
    InvalidValue,
    NotFound,
    SubscriptionExists,
    SubscriptionStatus,
    UserSubscriptionStatus,
)


def test_upsert_plan(catalog: Catalog) -> None:
    created = catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=999,
        currency="EUR",
        interval=BillingInterval.MONTH,
    )
    updated = catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=1099,
        currency="eur",
        interval=BillingInterval.MONTH,
        stripe_price_id="price_123",
    )

    assert created.currency == "eur"
    assert (updated.price_cents, updated.stripe_price_id) == (1099, "price_123")
    assert catalog.get_plan("premium-monthly") == updated
    assert catalog.list_plans() == [updated]
    with pytest.raises(InvalidValue):
        catalog.upsert_plan(
            "Bad Id", name="x", price_cents=1, currency="eur", interval=BillingInterval.YEAR
        )
    with pytest.raises(NotFound):
        catalog.get_plan("basic")


def test_plans_cheapest_first_with_their_own_stripe_price(catalog: Catalog) -> None:
    yearly = catalog.upsert_plan(
        "premium-yearly",
        name="Premium yearly",
        price_cents=9900,
        currency="eur",
        interval=BillingInterval.YEAR,
        stripe_price_id="price_year",
    )
    weekly = catalog.upsert_plan(
        "premium-weekly",
        name="Weekly",
        price_cents=299,
        currency="eur",
        interval=BillingInterval.WEEK,
    )

    assert catalog.list_plans() == [weekly, yearly]
    with pytest.raises(Conflict):
        catalog.upsert_plan(
            "premium-weekly",
            name="Weekly",
            price_cents=299,
            currency="eur",
            interval=BillingInterval.WEEK,
            stripe_price_id="price_year",
        )


@pytest.fixture
def plan_id(catalog: Catalog) -> str:
    plan = catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=999,
        currency="eur",
        interval=BillingInterval.MONTH,
    )
    return plan.id


def test_subscription_status_keeps_the_user_in_step(catalog: Catalog, plan_id: str) -> None:
    user = catalog.create_user("ann@example.com", "hash")

    subscription = catalog.create_subscription(
        user.id, plan_id, "sub_1", provider_customer_id="cus_1"
    )
    assert subscription.status is SubscriptionStatus.INCOMPLETE
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.NONE
    assert catalog.get_active_subscription(user.id) is None

    active = catalog.update_subscription_status("sub_1", SubscriptionStatus.ACTIVE)
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.ACTIVE
    assert catalog.get_active_subscription(user.id) == active

    catalog.update_subscription_status("sub_1", SubscriptionStatus.PAST_DUE)
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.PAST_DUE
    assert catalog.get_active_subscription(user.id) is None

    canceled = catalog.update_subscription_status(
        "sub_1", SubscriptionStatus.CANCELED, end_date=subscription.start_date, auto_renew=False
    )
    assert (canceled.end_date, canceled.auto_renew) == (subscription.start_date, False)
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.CANCELED

    renewed = catalog.create_subscription(
        user.id, plan_id, "sub_2", status=SubscriptionStatus.ACTIVE
    )
    assert catalog.get_user(user.id).subscription_status is UserSubscriptionStatus.ACTIVE
    assert catalog.get_active_subscription(user.id) == renewed
    assert catalog.get_subscription("sub_1") == canceled


def test_subscriptions_of_a_user_latest_start_first(catalog: Catalog, plan_id: str) -> None:
    user = catalog.create_user("ann@example.com", "hash")
    other = catalog.create_user("bob@example.com", "hash")
    start = catalog.database_now()
    older = catalog.create_subscription(
        user.id, plan_id, "sub_old", start_date=start - timedelta(days=60)
    )
    newer = catalog.create_subscription(user.id, plan_id, "sub_new", start_date=start)
    catalog.create_subscription(other.id, plan_id, "sub_other")

    assert catalog.subscriptions_of_user(user.id) == [newer, older]
    assert catalog.subscriptions_of_user(uuid4()) == []


def test_subscription_errors(catalog: Catalog, plan_id: str) -> None:
    user = catalog.create_user("ann@example.com", "hash")
    catalog.create_subscription(user.id, plan_id, "sub_1")

    with pytest.raises(SubscriptionExists):
        catalog.create_subscription(user.id, plan_id, "sub_1")
    with pytest.raises(NotFound):
        catalog.create_subscription(user.id, "no-such-plan", "sub_2")
    with pytest.raises(NotFound):
        catalog.create_subscription(uuid4(), plan_id, "sub_3")
    with pytest.raises(NotFound):
        catalog.update_subscription_status("sub_unknown", SubscriptionStatus.ACTIVE)
    with pytest.raises(NotFound):
        catalog.get_subscription("sub_unknown")


def test_the_first_stripe_customer_stored_wins(catalog: Catalog) -> None:
    user = catalog.create_user("ann@example.com", "hash")
    other = catalog.create_user("bob@example.com", "hash")

    assert catalog.set_stripe_customer_id(user.id, "cus_first") == "cus_first"
    assert catalog.set_stripe_customer_id(user.id, "cus_second") == "cus_first"
    assert catalog.get_user(user.id).stripe_customer_id == "cus_first"
    with pytest.raises(Conflict):
        catalog.set_stripe_customer_id(other.id, "cus_first")
    with pytest.raises(NotFound):
        catalog.set_stripe_customer_id(uuid4(), "cus_nobody")


def test_a_billing_event_is_claimed_once_its_handling_succeeds(catalog: Catalog) -> None:
    class HandlingFailed(Exception):
        pass

    with pytest.raises(HandlingFailed), catalog.claim_billing_event("evt_1", "invoice.paid"):
        raise HandlingFailed
    # The failed handling left no record: the provider's retry is handled.
    with catalog.claim_billing_event("evt_1", "invoice.paid") as first:
        assert first is True
    with catalog.claim_billing_event("evt_1", "invoice.paid") as again:
        assert again is False
    with catalog.claim_billing_event("evt_2", "invoice.paid") as other:
        assert other is True
