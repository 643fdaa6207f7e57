"""Circuit breakers on Cassandra and Stripe: after repeated failures the API answers 503 at once,
with `Retry-After`, instead of making each request wait for the dependency; what does not need
it goes on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from portpicker import pick_unused_port

from api.main import create_app
from reelflow.settings import Settings
from storage.catalog import BillingInterval, Catalog
from tests.fixtures.api import Account

FAILURES = 2
COOLDOWN_S = 600.0


@pytest.fixture
def breaking(api_settings: Settings) -> Settings:
    return api_settings.model_copy(
        update={"breaker_failures": FAILURES, "breaker_cooldown_s": COOLDOWN_S}
    )


def test_cassandra_down_fails_fast_once_the_breaker_opens(
    breaking: Settings, make_account: Callable[..., Account]
) -> None:
    viewer = make_account()
    down = breaking.model_copy(update={"cassandra_port": pick_unused_port()})
    with TestClient(create_app(down)) as client:
        answers = [client.get("/api/v1/users/me/history", headers=viewer.headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [503] * 4
        assert {a.json()["code"] for a in answers} == {"history_unavailable"}
        # The first ones tried Cassandra; then the breaker answers without trying.
        assert ["Retry-After" in a.headers for a in answers] == [False] * FAILURES + [True] * 2
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= COOLDOWN_S
        # The feed goes on without the viewing history; so does everything else.
        assert client.get("/api/v1/videos/feed", headers=viewer.headers).status_code == 200
        ready = client.get("/readyz").json()
        assert ready["dependencies"]["cassandra"].startswith("down")


def test_stripe_down_fails_fast_once_the_breaker_opens(
    breaking: Settings, catalog: Catalog, make_account: Callable[..., Account]
) -> None:
    viewer = make_account()
    catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=999,
        currency="usd",
        interval=BillingInterval.MONTH,
        stripe_price_id="price_premium_monthly",
    )
    down = breaking.model_copy(update={"stripe_api_base": f"http://127.0.0.1:{pick_unused_port()}"})
    body = {"plan_id": "premium-monthly", "payment_method_id": "pm_card_visa"}
    with TestClient(create_app(down)) as client:
        answers = [
            client.post("/api/v1/subscriptions", json=body, headers=viewer.headers)
            for _ in range(FAILURES + 1)
        ]
        assert [a.status_code for a in answers] == [503] * (FAILURES + 1)
        assert {a.json()["code"] for a in answers} == {"billing_unavailable"}
        assert ["Retry-After" in a.headers for a in answers] == [False] * FAILURES + [True]
        assert client.get("/api/v1/plans").status_code == 200
