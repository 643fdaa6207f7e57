"""Billing without Stripe: paid periods by the calendar, Stripe's statuses and webhook events
turned into changes of our subscriptions, and deliveries verified by their signature."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from api.billing import (
    HANDLED_EVENTS,
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
    STATUS_FROM_STRIPE,
    SUBSCRIPTION_DELETED,
    SUBSCRIPTION_UPDATED,
    Billing,
    SubscriptionChange,
    period_end,
    subscription_change,
    subscription_status,
)
from api.breaker import CircuitBreaker
from api.errors import ApiError
from storage.catalog import BillingInterval, SubscriptionStatus
from tests.fixtures.stripe import stripe_event, stripe_signature

SUBSCRIPTION = "sub_1QxYz"
JAN_1 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
FEB_1 = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp())
MAR_1 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
WEBHOOK_SECRET = "whsec_unit_test"


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@pytest.mark.parametrize(
    ("start", "interval", "end"),
    [
        (datetime(2025, 1, 31, 9, tzinfo=UTC), BillingInterval.MONTH, datetime(2025, 2, 28, 9)),
        (datetime(2024, 1, 31, 9, tzinfo=UTC), BillingInterval.MONTH, datetime(2024, 2, 29, 9)),
        (datetime(2025, 12, 15, tzinfo=UTC), BillingInterval.MONTH, datetime(2026, 1, 15)),
        (datetime(2024, 2, 29, tzinfo=UTC), BillingInterval.YEAR, datetime(2025, 2, 28)),
        (datetime(2025, 3, 1, tzinfo=UTC), BillingInterval.WEEK, datetime(2025, 3, 8)),
        (datetime(2025, 3, 1, tzinfo=UTC), BillingInterval.DAY, datetime(2025, 3, 2)),
    ],
)
def test_period_end_follows_the_calendar(
    start: datetime, interval: BillingInterval, end: datetime
) -> None:
    assert period_end(start, interval) == end.replace(tzinfo=UTC)


def test_only_active_and_trialing_stripe_statuses_entitle() -> None:
    entitled = {
        s for s in STATUS_FROM_STRIPE if subscription_status(s) == SubscriptionStatus.ACTIVE
    }
    assert entitled == {"active", "trialing"}
    assert subscription_status("some_future_status") == SubscriptionStatus.INCOMPLETE


@pytest.mark.parametrize(
    ("obj", "change"),
    [
        # API versions since 2025-03: the period per item; the latest end counts.
        (
            {
                "id": SUBSCRIPTION,
                "status": "past_due",
                "items": {"data": [{"current_period_end": FEB_1}, {"current_period_end": MAR_1}]},
            },
            SubscriptionChange(SUBSCRIPTION, SubscriptionStatus.PAST_DUE, at(MAR_1), True),
        ),
        # Older versions: the period on the subscription.
        (
            {
                "id": SUBSCRIPTION,
                "status": "active",
                "cancel_at_period_end": True,
                "current_period_end": FEB_1,
            },
            SubscriptionChange(SUBSCRIPTION, SubscriptionStatus.ACTIVE, at(FEB_1), False),
        ),
        (
            {"id": SUBSCRIPTION, "status": "incomplete_expired", "items": {"data": []}},
            SubscriptionChange(SUBSCRIPTION, SubscriptionStatus.CANCELED, None, True),
        ),
    ],
)
def test_an_updated_subscription_brings_its_status_period_and_renewal(
    obj: dict[str, Any], change: SubscriptionChange
) -> None:
    assert subscription_change(SUBSCRIPTION_UPDATED, obj) == change


def test_a_deleted_subscription_is_canceled_and_never_renews() -> None:
    ended = {"id": SUBSCRIPTION, "status": "canceled", "ended_at": FEB_1}
    assert subscription_change(SUBSCRIPTION_DELETED, ended) == SubscriptionChange(
        SUBSCRIPTION, SubscriptionStatus.CANCELED, at(FEB_1), False
    )
    # Whatever Stripe says of its status, a deleted subscription entitles to nothing.
    unknown_end = {"id": SUBSCRIPTION, "status": "active"}
    assert subscription_change(SUBSCRIPTION_DELETED, unknown_end) == SubscriptionChange(
        SUBSCRIPTION, SubscriptionStatus.CANCELED, None, False
    )


@pytest.mark.parametrize(
    "invoice",
    [
        {"parent": {"subscription_details": {"subscription": SUBSCRIPTION}}},
        {"subscription": SUBSCRIPTION},
        {"subscription": {"id": SUBSCRIPTION, "object": "subscription"}},
    ],
    ids=["parent", "top-level id", "expanded"],
)
def test_a_paid_invoice_activates_its_subscription_until_its_last_line_ends(
    invoice: dict[str, Any],
) -> None:
    lines = {"data": [{"period": {"end": FEB_1}}, {"period": {"end": MAR_1}}, {"period": {}}]}
    paid = {"id": "in_1", **invoice, "lines": lines}
    assert subscription_change(INVOICE_PAID, paid) == SubscriptionChange(
        SUBSCRIPTION, SubscriptionStatus.ACTIVE, at(MAR_1)
    )
    failed = {"id": "in_2", **invoice}
    assert subscription_change(INVOICE_PAYMENT_FAILED, failed) == SubscriptionChange(
        SUBSCRIPTION, SubscriptionStatus.PAST_DUE
    )


def test_a_paid_invoice_without_lines_leaves_the_period_as_it_is() -> None:
    change = subscription_change(INVOICE_PAID, {"id": "in_1", "subscription": SUBSCRIPTION})
    assert change == SubscriptionChange(SUBSCRIPTION, SubscriptionStatus.ACTIVE, None)


def test_invoices_of_no_subscription_change_nothing() -> None:
    for event_type in (INVOICE_PAID, INVOICE_PAYMENT_FAILED):
        for one_off in ({"id": "in_3", "lines": {"data": []}}, {"id": "in_4", "parent": None}):
            assert subscription_change(event_type, one_off) is None


def test_an_event_of_another_type_is_refused() -> None:
    assert "invoice.finalized" not in HANDLED_EVENTS
    with pytest.raises(ValueError, match="not handled"):
        subscription_change("invoice.finalized", {"id": "in_5", "subscription": SUBSCRIPTION})


@pytest.fixture
def billing() -> Billing:
    """Billing with a client that is never called: verifying a delivery is local."""
    breaker = CircuitBreaker(failures=1, cooldown_s=1.0)
    return Billing(stripe.StripeClient("sk_test_unused"), WEBHOOK_SECRET, breaker)


def test_a_delivery_signed_with_the_webhook_secret_gives_its_event(billing: Billing) -> None:
    payload = stripe_event("evt_1", INVOICE_PAID, {"id": "in_1", "subscription": SUBSCRIPTION})
    event = billing.verify_event(payload, stripe_signature(payload, WEBHOOK_SECRET))
    assert (event.id, event.type) == ("evt_1", INVOICE_PAID)
    assert event.to_dict()["data"]["object"]["subscription"] == SUBSCRIPTION


@pytest.mark.parametrize(
    "sign",
    [
        lambda payload: None,
        lambda payload: "",
        lambda payload: "t=1,v1=00",
        lambda payload: stripe_signature(payload, "whsec_someone_else"),
        lambda payload: stripe_signature(payload, WEBHOOK_SECRET, timestamp=JAN_1),
        lambda payload: stripe_signature(payload.replace(b"evt_2", b"evt_3"), WEBHOOK_SECRET),
    ],
    ids=["missing", "empty", "malformed", "other secret", "stale", "other body"],
)
def test_a_delivery_not_signed_by_stripe_is_a_400(
    billing: Billing, sign: Callable[[bytes], str | None]
) -> None:
    payload = stripe_event("evt_2", SUBSCRIPTION_DELETED, {"id": SUBSCRIPTION})
    with pytest.raises(ApiError) as refused:
        billing.verify_event(payload, sign(payload))
    assert (refused.value.status, refused.value.code) == (400, "invalid_signature")


def test_a_signed_body_that_is_no_event_is_a_400(billing: Billing) -> None:
    garbage = b"not json"
    with pytest.raises(ApiError) as refused:
        billing.verify_event(garbage, stripe_signature(garbage, WEBHOOK_SECRET))
    assert (refused.value.status, refused.value.code) == (400, "invalid_payload")
