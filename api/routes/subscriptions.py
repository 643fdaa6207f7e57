"""Plans, subscriptions and Stripe's webhook.

Plans are defined by admins with `PUT /plans/{plan_id}`, which is idempotent: a deployment
seeds its default plan (`premium-monthly`) by calling it at set-up, and tests do the same.
Entitlement is ours: `users.subscription_status` follows our subscriptions, which Stripe's
answers and webhook events move (see api/billing.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Request, status
from starlette.concurrency import run_in_threadpool

from api.billing import HANDLED_EVENTS, Billing, BillingDep, period_end, subscription_change
from api.deps import AdminUser, CatalogDep, CurrentUser
from api.errors import INVALID_BODY, UNAUTHENTICATED, ApiError, error
from api.schemas.billing import (
    PlanPublic,
    PlanUpdate,
    SubscriptionCreate,
    SubscriptionPublic,
    WebhookAck,
)
from storage.catalog import Catalog, NotFound, Subscription

log = logging.getLogger(__name__)

router = APIRouter(tags=["billing"])

ADMINS_ONLY = error("Administrators only")
NO_SUBSCRIPTION = error("You have no subscription (or no active one to cancel)")
SUBSCRIBE_CONFLICT = error("Already subscribed, or the plan cannot be billed")
PAYMENT_DECLINED = error("Stripe declined the payment method")
BILLING_DOWN = error("Stripe cannot be reached or refused the request")
BAD_SIGNATURE = error("The Stripe-Signature header does not sign this body")
PLAN_ID = Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=100)


@router.get("/plans", response_model=list[PlanPublic])
def list_plans(catalog: CatalogDep) -> list[PlanPublic]:
    """The plans one can subscribe to, cheapest first."""
    return [PlanPublic.of(plan) for plan in catalog.list_plans()]


@router.put(
    "/plans/{plan_id}",
    response_model=PlanPublic,
    responses={401: UNAUTHENTICATED, 403: ADMINS_ONLY, 422: INVALID_BODY},
)
def put_plan(
    plan_id: Annotated[str, PLAN_ID], body: PlanUpdate, catalog: CatalogDep, _: AdminUser
) -> PlanPublic:
    """Create or replace a plan (admins); calling it again with the same body changes nothing."""
    plan = catalog.upsert_plan(
        plan_id,
        name=body.name,
        price_cents=body.price_cents,
        currency=body.currency,
        interval=body.interval,
        stripe_price_id=body.stripe_price_id,
    )
    return PlanPublic.of(plan)


@router.post(
    "/subscriptions",
    response_model=SubscriptionPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        401: UNAUTHENTICATED,
        402: PAYMENT_DECLINED,
        404: error("No such plan"),
        409: SUBSCRIBE_CONFLICT,
        422: INVALID_BODY,
        502: BILLING_DOWN,
        503: BILLING_DOWN,
    },
)
def subscribe(
    body: SubscriptionCreate, user: CurrentUser, catalog: CatalogDep, billing: BillingDep
) -> SubscriptionPublic:
    """Subscribe to a plan, paying with a Stripe PaymentMethod."""
    plan = catalog.get_plan(body.plan_id)
    if plan.stripe_price_id is None:
        raise ApiError(409, "plan_not_billable", f"plan {plan.id!r} has no Stripe price")
    if catalog.get_active_subscription(user.id) is not None:
        raise ApiError(409, "already_subscribed", "you already have an active subscription")
    customer_id = user.stripe_customer_id or catalog.set_stripe_customer_id(
        user.id, billing.create_customer(user)
    )
    billing.attach_payment_method(customer_id, body.payment_method_id)
    created = billing.create_subscription(
        customer_id, plan.stripe_price_id, body.payment_method_id, user_id=user.id
    )
    # The paid period is ours to compute (Stripe's copy arrives with invoice.paid events), and
    # renewal is on since nothing asked Stripe otherwise: only the status is read from Stripe.
    start = datetime.now(UTC)
    subscription = catalog.create_subscription(
        user.id,
        plan.id,
        created.id,
        status=created.status,
        start_date=start,
        end_date=period_end(start, plan.interval),
        auto_renew=True,
        payment_method_id=body.payment_method_id,
        provider_customer_id=customer_id,
    )
    return SubscriptionPublic.of(subscription)


@router.get(
    "/subscriptions/me",
    response_model=SubscriptionPublic,
    responses={401: UNAUTHENTICATED, 404: NO_SUBSCRIPTION},
)
def my_subscription(user: CurrentUser, catalog: CatalogDep) -> SubscriptionPublic:
    """Your subscription: the active one, else the most recent one in any state."""
    return SubscriptionPublic.of(_current_subscription(catalog, user.id))


@router.delete(
    "/subscriptions/me",
    response_model=SubscriptionPublic,
    responses={401: UNAUTHENTICATED, 404: NO_SUBSCRIPTION, 502: BILLING_DOWN, 503: BILLING_DOWN},
)
def cancel_subscription(
    user: CurrentUser, catalog: CatalogDep, billing: BillingDep
) -> SubscriptionPublic:
    """Cancel at the end of the paid period: it stays active until `end_date`, then ends."""
    active = catalog.get_active_subscription(user.id)
    if active is None:
        raise ApiError(404, "no_subscription", "you have no active subscription")
    if not active.auto_renew:
        return SubscriptionPublic.of(active)
    billing.cancel_at_period_end(active.provider_subscription_id)
    # Stripe's answer is not read back for the status: entitlement stays active until Stripe
    # sends customer.subscription.deleted at the end of the period.
    updated = catalog.update_subscription_status(
        active.provider_subscription_id, active.status, auto_renew=False
    )
    return SubscriptionPublic.of(updated)


@router.post(
    "/billing/webhook",
    response_model=WebhookAck,
    responses={400: BAD_SIGNATURE},
)
async def stripe_webhook(
    request: Request,
    catalog: CatalogDep,
    billing: BillingDep,
    stripe_signature: Annotated[str | None, Header()] = None,
) -> WebhookAck:
    """Stripe's events: subscription changes and invoice results, each applied once."""
    # The signature covers the exact bytes, so the body is read raw, never parsed first.
    payload = await request.body()
    duplicate = await run_in_threadpool(_apply_event, catalog, billing, payload, stripe_signature)
    return WebhookAck(duplicate=duplicate)


def _apply_event(catalog: Catalog, billing: Billing, payload: bytes, signature: str | None) -> bool:
    """Verify and apply one delivery; True when the event had been applied before."""
    event = billing.verify_event(payload, signature)
    if event.type not in HANDLED_EVENTS:
        return False
    change = subscription_change(event.type, event.to_dict()["data"]["object"])
    if change is None:
        log.info("Stripe event %s (%s) names no subscription; ignored", event.id, event.type)
        return False
    with catalog.claim_billing_event(event.id, event.type) as claimed:
        if not claimed:
            return True
        try:
            catalog.update_subscription_status(
                change.provider_subscription_id,
                change.status,
                end_date=change.end_date,
                auto_renew=change.auto_renew,
                # Stripe retries and reorders deliveries: an event older than the last one
                # applied (a retried invoice.paid after the subscription's deletion) is stale.
                event_at=datetime.fromtimestamp(event.created, UTC),
            )
        except NotFound:
            # Not one of ours (another integration on the same Stripe account): acknowledged,
            # or Stripe would retry it for days.
            log.warning(
                "Stripe event %s names unknown subscription %s",
                event.id,
                change.provider_subscription_id,
            )
    return False


def _current_subscription(catalog: Catalog, user_id: UUID) -> Subscription:
    active = catalog.get_active_subscription(user_id)
    if active is not None:
        return active
    every = catalog.subscriptions_of_user(user_id)
    if not every:
        raise ApiError(404, "no_subscription", "you have no subscription")
    return every[0]
