"""Plans, subscriptions against a real stripe-mock, and signed Stripe webhooks."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.billing import period_end
from reelflow.settings import Settings
from storage.catalog import (
    BillingInterval,
    Catalog,
    SubscriptionStatus,
    UserSubscriptionStatus,
    Visibility,
)
from tests.fixtures.api import Account
from tests.fixtures.stripe import stripe_event, stripe_signature
from tests.fixtures.videos import published

MakeAccount = Callable[..., Account]
PLAN = "premium-monthly"
PLAN_BODY = {
    "name": "Premium",
    "price_cents": 999,
    "currency": "USD",
    "interval": "month",
    "stripe_price_id": "price_premium_monthly",
}
SUBSCRIPTIONS = "/api/v1/subscriptions"
ME = "/api/v1/subscriptions/me"
WEBHOOK = "/api/v1/billing/webhook"


@pytest.fixture
def plan(client: TestClient, admin: Account) -> str:
    """The default plan, seeded the way a deployment seeds it."""
    response = client.put(f"/api/v1/plans/{PLAN}", json=PLAN_BODY, headers=admin.headers)
    assert response.status_code == 200, response.text
    return PLAN


@pytest.fixture
def subscribed(
    client: TestClient, stripe_mock: str, plan: str, viewer: Account, catalog: Catalog
) -> str:
    """The viewer subscribed to the plan; returns the Stripe subscription id."""
    body = {"plan_id": plan, "payment_method_id": "pm_card_visa"}
    response = client.post(SUBSCRIPTIONS, json=body, headers=viewer.headers)
    assert response.status_code == 201, response.text
    [subscription] = catalog.subscriptions_of_user(viewer.id)
    return subscription.provider_subscription_id


def deliver(
    client: TestClient,
    secret: str,
    event_type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    payload = stripe_event(event_id or f"evt_{uuid4().hex}", event_type, obj, created=created)
    response = client.post(
        WEBHOOK,
        content=payload,
        headers={
            "Stripe-Signature": stripe_signature(payload, secret),
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def paid_invoice(invoice_id: str, subscription: str, period_end: int) -> dict[str, Any]:
    """An `invoice.paid` event's invoice: the subscription's period paid until `period_end`."""
    return {
        "id": invoice_id,
        "object": "invoice",
        "parent": {"subscription_details": {"subscription": subscription}},
        "lines": {"object": "list", "data": [{"period": {"end": period_end}}]},
    }


def secret_of(settings: Settings) -> str:
    return settings.stripe_webhook_secret.get_secret_value()


def test_plans_are_seeded_idempotently_by_admins(
    client: TestClient, admin: Account, viewer: Account
) -> None:
    for _ in range(2):
        response = client.put(f"/api/v1/plans/{PLAN}", json=PLAN_BODY, headers=admin.headers)
        assert response.status_code == 200
    assert client.get("/api/v1/plans").json() == [
        {"id": PLAN, "name": "Premium", "price_cents": 999, "currency": "usd", "interval": "month"}
    ]
    refused = client.put(f"/api/v1/plans/{PLAN}", json=PLAN_BODY, headers=viewer.headers)
    assert refused.status_code == 403
    bad_id = client.put("/api/v1/plans/Not_A_Slug", json=PLAN_BODY, headers=admin.headers)
    assert bad_id.status_code == 422


def test_subscribing_creates_the_customer_and_an_active_subscription(
    client: TestClient, catalog: Catalog, subscribed: str, viewer: Account
) -> None:
    user = catalog.get_user(viewer.id)
    assert user.subscription_status == UserSubscriptionStatus.ACTIVE
    assert user.stripe_customer_id is not None and user.stripe_customer_id.startswith("cus_")
    assert subscribed.startswith("sub_")

    me = client.get(ME, headers=viewer.headers).json()
    assert me["plan_id"] == PLAN
    assert me["status"] == "active"
    assert me["auto_renew"] is True
    start = datetime.fromisoformat(me["start_date"])
    assert datetime.fromisoformat(me["end_date"]) == period_end(start, BillingInterval.MONTH)

    again = client.post(
        SUBSCRIPTIONS,
        json={"plan_id": PLAN, "payment_method_id": "pm_card_visa"},
        headers=viewer.headers,
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_subscribed"


def test_a_subscription_entitles_to_premium_playback(
    client: TestClient,
    catalog: Catalog,
    stripe_mock: str,
    plan: str,
    viewer: Account,
    admin: Account,
) -> None:
    video = published(
        catalog, admin.id, "Premium film", visibility=Visibility.PREMIUM, duration_s=60.0
    )
    report = {
        "position_s": 5.0,
        "duration_s": 60.0,
        "watched_delta_s": 5.0,
        "session_id": str(uuid4()),
        "event_type": "progress",
    }
    url = f"/api/v1/videos/{video.id}/watch"
    assert client.post(url, json=report, headers=viewer.headers).status_code == 403
    body = {"plan_id": plan, "payment_method_id": "pm_card_visa"}
    assert client.post(SUBSCRIPTIONS, json=body, headers=viewer.headers).status_code == 201
    assert client.post(url, json=report, headers=viewer.headers).status_code == 200


def test_cancel_keeps_the_subscription_active_until_the_period_ends(
    client: TestClient, catalog: Catalog, subscribed: str, viewer: Account
) -> None:
    before = client.get(ME, headers=viewer.headers).json()
    for _ in range(2):
        canceled = client.delete(ME, headers=viewer.headers)
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["status"] == "active"
        assert canceled.json()["auto_renew"] is False
        assert canceled.json()["end_date"] == before["end_date"]
    assert catalog.get_user(viewer.id).subscription_status == UserSubscriptionStatus.ACTIVE
    assert catalog.get_subscription(subscribed).auto_renew is False


def test_without_a_subscription(
    client: TestClient, stripe_mock: str, plan: str, viewer: Account, catalog: Catalog
) -> None:
    assert client.get(ME, headers=viewer.headers).status_code == 404
    assert client.delete(ME, headers=viewer.headers).status_code == 404
    assert client.get(ME).status_code == 401

    unknown = {"plan_id": "no-such-plan", "payment_method_id": "pm_card_visa"}
    assert client.post(SUBSCRIPTIONS, json=unknown, headers=viewer.headers).status_code == 404
    catalog.upsert_plan(
        "free-trial", name="Trial", price_cents=0, currency="usd", interval=BillingInterval.WEEK
    )
    unbillable = {"plan_id": "free-trial", "payment_method_id": "pm_card_visa"}
    response = client.post(SUBSCRIPTIONS, json=unbillable, headers=viewer.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "plan_not_billable"
    # Card numbers are refused before anything reaches Stripe: only PaymentMethod ids are taken.
    card = {"plan_id": plan, "payment_method_id": "4242424242424242"}
    assert client.post(SUBSCRIPTIONS, json=card, headers=viewer.headers).status_code == 422
    assert catalog.get_user(viewer.id).stripe_customer_id is None


def test_webhook_events_move_the_subscription_and_the_entitlement(
    client: TestClient,
    catalog: Catalog,
    api_settings: Settings,
    subscribed: str,
    viewer: Account,
) -> None:
    secret = secret_of(api_settings)
    renewed_until = int((datetime.now(UTC) + timedelta(days=60)).timestamp())

    deliver(client, secret, "invoice.payment_failed", {"id": "in_1", "subscription": subscribed})
    assert catalog.get_subscription(subscribed).status == SubscriptionStatus.PAST_DUE
    assert catalog.get_user(viewer.id).subscription_status == UserSubscriptionStatus.PAST_DUE

    paid = paid_invoice("in_2", subscribed, renewed_until)
    deliver(client, secret, "invoice.paid", paid)
    subscription = catalog.get_subscription(subscribed)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.end_date == datetime.fromtimestamp(renewed_until, UTC)

    updated = {
        "id": subscribed,
        "object": "subscription",
        "status": "active",
        "cancel_at_period_end": True,
        "items": {"object": "list", "data": [{"current_period_end": renewed_until}]},
    }
    deliver(client, secret, "customer.subscription.updated", updated)
    assert catalog.get_subscription(subscribed).auto_renew is False

    deliver(client, secret, "customer.subscription.deleted", {**updated, "status": "canceled"})
    assert catalog.get_subscription(subscribed).status == SubscriptionStatus.CANCELED
    assert catalog.get_user(viewer.id).subscription_status == UserSubscriptionStatus.CANCELED
    assert client.get(ME, headers=viewer.headers).json()["status"] == "canceled"
    assert client.delete(ME, headers=viewer.headers).status_code == 404

    # Subscribing again reuses the Stripe customer.
    customer = catalog.get_user(viewer.id).stripe_customer_id
    body = {"plan_id": PLAN, "payment_method_id": "pm_card_mastercard"}
    assert client.post(SUBSCRIPTIONS, json=body, headers=viewer.headers).status_code == 201
    assert catalog.get_user(viewer.id).stripe_customer_id == customer
    assert client.get(ME, headers=viewer.headers).json()["status"] == "active"


def test_an_event_older_than_the_last_applied_changes_nothing(
    client: TestClient,
    catalog: Catalog,
    api_settings: Settings,
    subscribed: str,
    viewer: Account,
) -> None:
    secret = secret_of(api_settings)
    now = int(time.time())
    paid = paid_invoice("in_retried", subscribed, now + 30 * 86400)
    failed = {"id": "in_2", "subscription": subscribed}
    deliver(client, secret, "invoice.payment_failed", failed, created=now)
    # Made a minute before the failure, delivered after it (Stripe's retries reorder).
    assert deliver(client, secret, "invoice.paid", paid, created=now - 60)["duplicate"] is False
    assert catalog.get_subscription(subscribed).status == SubscriptionStatus.PAST_DUE

    deleted = {"id": subscribed, "object": "subscription", "status": "canceled"}
    deliver(client, secret, "customer.subscription.deleted", deleted, created=now + 10)
    # A retry of an older payment after the deletion, and even one made later: Stripe never
    # revives a canceled subscription, so neither restores premium.
    for created in (now - 3600, now + 20):
        deliver(client, secret, "invoice.paid", paid, created=created)
        assert catalog.get_subscription(subscribed).status == SubscriptionStatus.CANCELED
        assert catalog.get_user(viewer.id).subscription_status == UserSubscriptionStatus.CANCELED


def test_a_paid_period_that_ended_without_a_renewal_stops_premium_playback(
    client: TestClient,
    catalog: Catalog,
    catalog_dsn: str,
    subscribed: str,
    viewer: Account,
    admin: Account,
) -> None:
    video = published(
        catalog, admin.id, "Premium film", visibility=Visibility.PREMIUM, duration_s=60.0
    )
    playback = f"/api/v1/videos/{video.id}"

    def plays(ended_ago: timedelta) -> bool:
        with psycopg.connect(catalog_dsn, autocommit=True) as conn:
            conn.execute(
                "UPDATE subscriptions SET start_date = now() - interval '40 days', end_date = %s"
                " WHERE provider_subscription_id = %s",
                (datetime.now(UTC) - ended_ago, subscribed),
            )
        # Still active as far as any event said: no renewal was reported, nor a cancellation.
        catalog.update_subscription_status(subscribed, SubscriptionStatus.ACTIVE)
        body = client.get(playback, headers=viewer.headers).json()
        return body["playback"] is not None

    assert plays(timedelta(days=-3))  # paid for three more days
    assert plays(timedelta(hours=2))  # within the renewal grace
    assert not plays(timedelta(days=3))
    assert catalog.get_user(viewer.id).subscription_status == UserSubscriptionStatus.ACTIVE


def test_a_replayed_event_is_applied_once(
    client: TestClient,
    catalog: Catalog,
    api_settings: Settings,
    subscribed: str,
    viewer: Account,
) -> None:
    secret = secret_of(api_settings)
    failed = {"id": "in_1", "subscription": subscribed}
    first = deliver(client, secret, "invoice.payment_failed", failed, event_id="evt_replayed")
    assert first == {"received": True, "duplicate": False}
    assert catalog.get_subscription(subscribed).status == SubscriptionStatus.PAST_DUE
    # A later change; the replay of the older event must not undo it.
    catalog.update_subscription_status(subscribed, SubscriptionStatus.ACTIVE)
    replay = deliver(client, secret, "invoice.payment_failed", failed, event_id="evt_replayed")
    assert replay == {"received": True, "duplicate": True}
    assert catalog.get_subscription(subscribed).status == SubscriptionStatus.ACTIVE
    assert catalog.get_user(viewer.id).subscription_status == UserSubscriptionStatus.ACTIVE


def test_events_about_other_things_are_acknowledged(
    client: TestClient, api_settings: Settings, catalog: Catalog, subscribed: str
) -> None:
    secret = secret_of(api_settings)
    unknown = {"id": "sub_not_ours", "status": "canceled"}
    assert deliver(client, secret, "customer.subscription.deleted", unknown)["duplicate"] is False
    assert deliver(client, secret, "charge.succeeded", {"id": "ch_1"})["duplicate"] is False
    one_off = {"id": "in_3", "lines": {"data": []}}
    assert deliver(client, secret, "invoice.paid", one_off)["duplicate"] is False
    assert catalog.get_subscription(subscribed).status == SubscriptionStatus.ACTIVE


def test_badly_signed_deliveries_are_400_and_change_nothing(
    client: TestClient,
    api_settings: Settings,
    catalog: Catalog,
    subscribed: str,
) -> None:
    secret = secret_of(api_settings)
    payload = stripe_event("evt_bad", "customer.subscription.deleted", {"id": subscribed})
    tampered = payload.replace(b"evt_bad", b"evt_bax")
    stale = int(time.time()) - 600
    cases = [
        (tampered, {"Stripe-Signature": stripe_signature(payload, secret)}),
        (payload, {"Stripe-Signature": stripe_signature(payload, "whsec_someone_else")}),
        (payload, {"Stripe-Signature": stripe_signature(payload, secret, timestamp=stale)}),
        (payload, {"Stripe-Signature": "t=1,v1=00"}),
        (payload, {}),
    ]
    for body, headers in cases:
        response = client.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_signature"
    assert catalog.get_subscription(subscribed).status == SubscriptionStatus.ACTIVE

    garbage = b"not json"
    response = client.post(
        WEBHOOK, content=garbage, headers={"Stripe-Signature": stripe_signature(garbage, secret)}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_payload"


def test_concurrent_deliveries_of_one_event_apply_it_once(
    client: TestClient, api_settings: Settings, catalog: Catalog, subscribed: str
) -> None:
    secret = secret_of(api_settings)
    failed = {"id": "in_1", "subscription": subscribed}

    def once(_: int) -> bool:
        body = deliver(client, secret, "invoice.payment_failed", failed, event_id="evt_race")
        return bool(body["duplicate"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        duplicates = list(pool.map(once, range(4)))
    assert sorted(duplicates) == [False, True, True, True]
    assert catalog.get_subscription(subscribed).status == SubscriptionStatus.PAST_DUE
