"""Billing's Stripe calls against the dev stack's stripe-mock, which validates every request
against Stripe's API description, and Stripe's failures as the API errors clients get."""

from __future__ import annotations

import socket

import pytest

from api.billing import Billing
from api.errors import ApiError
from reelflow.settings import Settings
from storage.catalog import Catalog, SubscriptionStatus

PRICE = "price_premium_monthly"
CARD = "pm_card_visa"


@pytest.fixture
def billing(settings: Settings, stripe_mock: str) -> Billing:
    return Billing.from_settings(settings.model_copy(update={"stripe_api_base": stripe_mock}))


def test_a_customer_is_created_charged_subscribed_and_cancelled(
    billing: Billing, catalog: Catalog
) -> None:
    user = catalog.create_user("subscriber@example.com", "argon2-hash")
    customer = billing.create_customer(user)
    assert customer.startswith("cus_")

    billing.attach_payment_method(customer, CARD)
    subscription = billing.create_subscription(customer, PRICE, CARD, user_id=user.id)
    assert subscription.id.startswith("sub_")
    assert subscription.status == SubscriptionStatus.ACTIVE

    billing.cancel_at_period_end(subscription.id)


def test_a_request_stripe_refuses_is_a_502(billing: Billing) -> None:
    for refused in (
        lambda: billing.cancel_at_period_end(""),
        lambda: billing.attach_payment_method("cus_1", ""),
    ):
        with pytest.raises(ApiError) as error:
            refused()
        assert (error.value.status, error.value.code) == (502, "billing_error")


def test_an_unreachable_stripe_is_a_503(settings: Settings) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        # Bound but not listening: connections to it are refused at once.
        address = f"http://127.0.0.1:{unused.getsockname()[1]}"
        billing = Billing.from_settings(settings.model_copy(update={"stripe_api_base": address}))
        with pytest.raises(ApiError) as error:
            billing.cancel_at_period_end("sub_1")
    assert (error.value.status, error.value.code) == (503, "billing_unavailable")
