"""Stripe behind a small interface: customers, payment methods, subscriptions, webhook events.

The routes reach Stripe only through `Billing`, so the same code runs against stripe-mock in
development and tests (`settings.stripe_api_base`) and against Stripe in production (unset).
Card data never reaches us: clients collect it with Stripe.js and send a PaymentMethod id.

Entitlement is our state, not Stripe's: a subscription's status and paid period live in the
catalog, set from Stripe's answer when it is created and moved by the webhook events Stripe
sends afterwards (stripe-mock is stateless and answers with fixture data, so nothing may
depend on reading Stripe's state back).
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import stripe
from fastapi import Depends, Request

from api.breaker import CircuitBreaker
from api.errors import ApiError
from reelflow.settings import Settings
from storage.catalog import BillingInterval, SubscriptionStatus, User

log = logging.getLogger(__name__)

# Stripe's subscription statuses; only ours (`active`) entitles to premium playback.
STATUS_FROM_STRIPE = {
    "active": SubscriptionStatus.ACTIVE,
    "trialing": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAST_DUE,
    "incomplete": SubscriptionStatus.INCOMPLETE,
    "incomplete_expired": SubscriptionStatus.CANCELED,
    "canceled": SubscriptionStatus.CANCELED,
}

SUBSCRIPTION_UPDATED = "customer.subscription.updated"
SUBSCRIPTION_DELETED = "customer.subscription.deleted"
INVOICE_PAID = "invoice.paid"
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"
HANDLED_EVENTS = frozenset(
    {SUBSCRIPTION_UPDATED, SUBSCRIPTION_DELETED, INVOICE_PAID, INVOICE_PAYMENT_FAILED}
)

REQUEST_TIMEOUT_S = 20.0
NETWORK_RETRIES = 2
BILLING_UNAVAILABLE = "billing_unavailable"


def subscription_status(stripe_status: str) -> SubscriptionStatus:
    """Our status for a Stripe subscription status; an unknown one entitles to nothing."""
    return STATUS_FROM_STRIPE.get(stripe_status, SubscriptionStatus.INCOMPLETE)


def period_end(start: datetime, interval: BillingInterval) -> datetime:
    """The end of the first billing period that starts at `start` (calendar months and years,
    the day clamped to the month's length, as Stripe bills)."""
    if interval == BillingInterval.DAY:
        return start + timedelta(days=1)
    if interval == BillingInterval.WEEK:
        return start + timedelta(weeks=1)
    months = 1 if interval == BillingInterval.MONTH else 12
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class StripeSubscription:
    """What we keep of Stripe's answer about a subscription."""

    id: str
    status: SubscriptionStatus


@dataclass(frozen=True)
class SubscriptionChange:
    """What a webhook event changes in one of our subscriptions (None: leave as it is)."""

    provider_subscription_id: str
    status: SubscriptionStatus
    end_date: datetime | None = None
    auto_renew: bool | None = None


class Billing:
    """Stripe calls of the API, with Stripe's errors turned into API errors, behind a circuit
    breaker: while Stripe cannot be reached, calls fail at once with 503 and `Retry-After`."""

    def __init__(
        self,
        client: stripe.StripeClient,
        webhook_secret: str,
        breaker: CircuitBreaker,
    ) -> None:
        self.client = client
        self._webhook_secret = webhook_secret
        self.breaker = breaker

    @classmethod
    def from_settings(cls, settings: Settings) -> Billing:
        client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else {},
            max_network_retries=NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=REQUEST_TIMEOUT_S),
        )
        breaker = CircuitBreaker(
            failures=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
        )
        return cls(client, settings.stripe_webhook_secret.get_secret_value(), breaker)

    @contextmanager
    def _call(self) -> Iterator[None]:
        if not self.breaker.allow():
            raise ApiError(
                503,
                BILLING_UNAVAILABLE,
                "the payment provider is unavailable right now",
                headers={"Retry-After": str(self.breaker.retry_after_s())},
            )
        try:
            with _stripe_errors():
                yield
        except ApiError as exc:
            # Any answer from Stripe, a refusal included, shows it is there.
            if exc.code == BILLING_UNAVAILABLE:
                self.breaker.failed(exc.__cause__ or exc.message)
            else:
                self.breaker.succeeded()
            raise
        self.breaker.succeeded()

    def create_customer(self, user: User) -> str:
        """A new Stripe Customer for the user; returns its id."""
        with self._call():
            customer = self.client.v1.customers.create(
                params={"email": user.email, "metadata": {"reelflow_user_id": str(user.id)}},
                # Stripe answers a repeated key with the first customer, so a request retried
                # after a lost answer does not leave a second customer behind.
                options={"idempotency_key": f"reelflow-customer-{user.id}"},
            )
        return customer.id

    def attach_payment_method(self, customer_id: str, payment_method_id: str) -> None:
        """Attach the PaymentMethod to the customer and make it the one invoices charge."""
        with self._call():
            self.client.v1.payment_methods.attach(
                payment_method_id, params={"customer": customer_id}
            )
            self.client.v1.customers.update(
                customer_id,
                params={"invoice_settings": {"default_payment_method": payment_method_id}},
            )

    def create_subscription(
        self, customer_id: str, price_id: str, payment_method_id: str, *, user_id: UUID
    ) -> StripeSubscription:
        """Subscribe the customer to the price, charging the first invoice now.

        `error_if_incomplete` makes a declined first payment an error (402) instead of an
        incomplete subscription that would linger in Stripe.
        """
        with self._call():
            subscription = self.client.v1.subscriptions.create(
                params={
                    "customer": customer_id,
                    "items": [{"price": price_id}],
                    "default_payment_method": payment_method_id,
                    "payment_behavior": "error_if_incomplete",
                    "metadata": {"reelflow_user_id": str(user_id)},
                }
            )
        return _subscription(subscription)

    def cancel_at_period_end(self, subscription_id: str) -> None:
        """Stop renewal: Stripe ends the subscription when the paid period is over."""
        with self._call():
            self.client.v1.subscriptions.update(
                subscription_id, params={"cancel_at_period_end": True}
            )

    def verify_event(self, payload: bytes, signature: str | None) -> stripe.Event:
        """The event of a webhook delivery whose `Stripe-Signature` is valid; 400 otherwise."""
        if not signature:
            raise ApiError(400, "invalid_signature", "the Stripe-Signature header is missing")
        try:
            return stripe.Webhook.construct_event(payload, signature, self._webhook_secret)
        except stripe.SignatureVerificationError as exc:
            raise ApiError(400, "invalid_signature", "the webhook signature is not valid") from exc
        except ValueError as exc:
            raise ApiError(
                400, "invalid_payload", "the webhook body is not a Stripe event"
            ) from exc


def subscription_change(event_type: str, obj: Mapping[str, Any]) -> SubscriptionChange | None:
    """What an event of a handled type changes; None when it names no subscription."""
    if event_type == SUBSCRIPTION_UPDATED:
        return SubscriptionChange(
            obj["id"],
            subscription_status(obj["status"]),
            end_date=_timestamp(_subscription_period_end(obj)),
            auto_renew=not obj.get("cancel_at_period_end", False),
        )
    if event_type == SUBSCRIPTION_DELETED:
        return SubscriptionChange(
            obj["id"],
            SubscriptionStatus.CANCELED,
            end_date=_timestamp(obj.get("ended_at")),
            auto_renew=False,
        )
    subscription_id = _invoice_subscription(obj)
    if subscription_id is None:
        return None
    if event_type == INVOICE_PAID:
        ends = [line.get("period", {}).get("end") for line in _lines(obj)]
        return SubscriptionChange(
            subscription_id,
            SubscriptionStatus.ACTIVE,
            end_date=_timestamp(max((end for end in ends if end), default=None)),
        )
    if event_type == INVOICE_PAYMENT_FAILED:
        return SubscriptionChange(subscription_id, SubscriptionStatus.PAST_DUE)
    raise ValueError(f"event type {event_type!r} is not handled")


def get_billing(request: Request) -> Billing:
    """One Billing (and HTTP connection pool) per app, made on first use."""
    billing: Billing | None = getattr(request.app.state, "billing", None)
    if billing is None:
        billing = Billing.from_settings(request.app.state.settings)
        request.app.state.billing = billing
    return billing


BillingDep = Annotated[Billing, Depends(get_billing)]


@contextmanager
def _stripe_errors() -> Iterator[None]:
    try:
        yield
    except stripe.CardError as exc:
        raise ApiError(
            402, "payment_declined", exc.user_message or "the payment method was declined"
        ) from exc
    except stripe.InvalidRequestError as exc:
        if exc.param and "payment_method" in exc.param:
            raise ApiError(
                422, "invalid_payment_method", "the payment method cannot be used"
            ) from exc
        log.error("Stripe refused a request: %s", exc)
        raise ApiError(502, "billing_error", "the payment provider refused the request") from exc
    except stripe.StripeError as exc:
        log.error("Stripe is unavailable: %s", exc)
        raise ApiError(
            503, BILLING_UNAVAILABLE, "the payment provider is unavailable right now"
        ) from exc


def _subscription(subscription: stripe.Subscription) -> StripeSubscription:
    return StripeSubscription(subscription.id, subscription_status(subscription.status))


def _subscription_period_end(obj: Mapping[str, Any]) -> int | None:
    # API versions since 2025-03 give the period per item; older ones on the subscription.
    items = obj.get("items", {}).get("data") or []
    ends = [item.get("current_period_end") for item in items]
    return max((end for end in ends if end), default=None) or obj.get("current_period_end")


def _invoice_subscription(obj: Mapping[str, Any]) -> str | None:
    # API versions since 2025-03 name the subscription under `parent`; older ones at the top.
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription") or obj.get("subscription")
    if isinstance(subscription, Mapping):
        subscription = subscription.get("id")
    return subscription if isinstance(subscription, str) else None


def _lines(invoice: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    lines: list[Mapping[str, Any]] = (invoice.get("lines") or {}).get("data") or []
    return lines


def _timestamp(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
