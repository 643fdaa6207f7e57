"""Schemas of plans, subscriptions and the payment provider's webhook."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas import StorableRequest
from storage.catalog import BillingInterval, Plan, Subscription, SubscriptionStatus


class PlanPublic(BaseModel):
    id: str
    name: str
    price_cents: int
    currency: str
    interval: BillingInterval

    @classmethod
    def of(cls, plan: Plan) -> PlanPublic:
        return cls(
            id=plan.id,
            name=plan.name,
            price_cents=plan.price_cents,
            currency=plan.currency,
            interval=plan.interval,
        )


class PlanUpdate(StorableRequest):
    """A plan as an admin defines it; `stripe_price_id` is the Stripe Price it bills."""

    name: str = Field(min_length=1, max_length=200)
    price_cents: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217")
    interval: BillingInterval
    stripe_price_id: str | None = Field(default=None, pattern=r"^price_\w{1,200}$")


class SubscriptionCreate(StorableRequest):
    plan_id: str = Field(min_length=1, max_length=100)
    payment_method_id: str = Field(
        pattern=r"^pm_\w{1,200}$",
        description="a Stripe PaymentMethod id from Stripe.js; card data never reaches us",
    )


class SubscriptionPublic(BaseModel):
    id: UUID
    plan_id: str
    status: SubscriptionStatus
    start_date: datetime
    end_date: datetime | None = Field(description="when the paid period ends")
    auto_renew: bool

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionPublic:
        return cls(
            id=subscription.id,
            plan_id=subscription.plan_id,
            status=subscription.status,
            start_date=subscription.start_date,
            end_date=subscription.end_date,
            auto_renew=subscription.auto_renew,
        )


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="the event was delivered before and is not applied again")
