"""The API's Redis layer against real Redis servers: what it caches and when it lets go, rate
limits with `Retry-After`, and the API going on without Redis (fail open, or closed for
registration) and using it again once it is back."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from portpicker import pick_unused_port
from pydantic import SecretStr

from api.cache import SharedCache
from api.main import create_app
from devstack.redis import Redis
from reelflow.settings import Settings
from storage.catalog import Catalog, Role, Visibility
from tests.fixtures.api import Account
from tests.fixtures.videos import age, published

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/users/register"
ME = "/api/v1/users/me"
# Registrations tried while the breaker cools down (0.2 s) after Redis is back.
COOL_DOWN_TRIES = 200


def redis_client(settings: Settings) -> redis.Redis:
    assert settings.redis_url is not None
    return redis.Redis.from_url(settings.redis_url.get_secret_value())


def video_url(video_id: UUID) -> str:
    return f"/api/v1/videos/{video_id}"


def retitle_behind_the_api(dsn: str, video_id: UUID, title: str) -> None:
    """A change no catalog of the API makes, so no worker is told of it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE videos SET title = %s WHERE id = %s", (title, video_id))


def test_a_value_loaded_before_it_was_dropped_is_not_kept(api_settings: Settings) -> None:
    cache = SharedCache(api_settings)
    key = cache.key("test", secrets.token_hex(4))

    def load_while_it_changes() -> str:
        cache.drop(key, marker_ttl_s=60)
        return "stale"

    assert cache.read_through(key, "f", load_while_it_changes, str, bytes.decode, 60) == "stale"
    assert cache.read_through(key, "f", lambda: "fresh", str, bytes.decode, 60) == "fresh"
    assert cache.read_through(key, "f", lambda: "unused", str, bytes.decode, 60) == "fresh"
    cache.close()


def test_public_video_answers_are_shared_and_dropped_by_an_edit(
    client: TestClient,
    catalog: Catalog,
    api_settings: Settings,
    make_account: Callable[..., Account],
) -> None:
    owner = make_account(Role.CREATOR)
    viewer = make_account()
    video = published(catalog, owner.id, "First title")
    assert client.get(video_url(video.id)).json()["title"] == "First title"
    retitle_behind_the_api(api_settings.postgres_dsn, video.id, "Changed behind")
    # Viewers, signed in or not, get the shared answer; its owner reads the catalog.
    assert client.get(video_url(video.id)).json()["title"] == "First title"
    assert client.get(video_url(video.id), headers=viewer.headers).json()["title"] == (
        "First title"
    )
    assert client.get(video_url(video.id), headers=owner.headers).json()["title"] == (
        "Changed behind"
    )
    edited = client.patch(video_url(video.id), json={"title": "Edited"}, headers=owner.headers)
    assert edited.status_code == 200
    assert client.get(video_url(video.id)).json()["title"] == "Edited"
    # Made private by another worker: hidden at once.
    catalog.update_video(video.id, visibility=Visibility.PRIVATE)
    assert client.get(video_url(video.id)).status_code == 404
    assert client.get(video_url(video.id), headers=owner.headers).status_code == 200


def test_premium_and_private_answers_are_never_shared(
    client: TestClient,
    catalog: Catalog,
    api_settings: Settings,
    make_account: Callable[..., Account],
) -> None:
    owner = make_account(Role.CREATOR)
    premium = published(catalog, owner.id, "Premium", visibility=Visibility.PREMIUM)
    assert client.get(video_url(premium.id)).status_code == 200
    key = f"{api_settings.redis_namespace}:video:{premium.id}"
    assert redis_client(api_settings).exists(key) == 0


def test_sign_out_and_a_password_change_end_cached_sessions_at_once(
    client: TestClient, api_settings: Settings, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    key = f"{api_settings.redis_namespace}:sessions:{account.id}"
    assert client.get(ME, headers=account.headers).status_code == 200
    assert redis_client(api_settings).hlen(key) == 1
    new_password = secrets.token_urlsafe(12)
    changed = client.patch(
        ME,
        json={"new_password": new_password, "current_password": account.password},
        headers=account.headers,
    )
    assert changed.status_code == 200, changed.text
    assert redis_client(api_settings).exists(key) == 0
    refused = client.get(ME, headers=account.headers)
    assert refused.status_code == 401
    assert refused.json()["message"] == "the session has ended; sign in again"

    login = client.post(LOGIN, json={"email": account.email, "password": new_password})
    tokens = login.json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get(ME, headers=headers).status_code == 200
    out = client.post(
        "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=headers
    )
    assert out.status_code == 204
    assert client.get(ME, headers=headers).status_code == 401


def limited(settings: Settings, **limits: str) -> Settings:
    rate_limits = {name.replace("_", ":"): value for name, value in limits.items()}
    return settings.model_copy(update={"rate_limits": rate_limits})


def test_rate_limits_answer_429_with_retry_after_per_address_and_account(
    api_settings: Settings, catalog: Catalog
) -> None:
    settings = limited(api_settings, login_address="3/600", login_account="2/600")
    app = create_app(settings)
    body = {"email": "nobody@example.com", "password": "wrong password"}
    with (
        TestClient(app, client=("10.0.0.1", 1000)) as first,
        TestClient(app, client=("10.0.0.2", 1000)) as second,
    ):
        assert [first.post(LOGIN, json=body).status_code for _ in range(2)] == [401, 401]
        # The account's limit holds across addresses.
        refused = second.post(LOGIN, json=body)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 600
        # The address's limit holds across accounts.
        other, third = (
            {"email": f"{name}@example.com", "password": "wrong password"}
            for name in ("someone", "anyone")
        )
        assert first.post(LOGIN, json=other).status_code == 401
        assert first.post(LOGIN, json=third).status_code == 429
        # Each address has its own count.
        assert second.post(LOGIN, json=other).status_code == 401


def test_without_redis_the_api_serves_and_registration_fails_closed(
    api_settings: Settings, catalog: Catalog, make_account: Callable[..., Account]
) -> None:
    url = api_settings.redis_url
    assert url is not None
    host = url.get_secret_value().rsplit(":", 1)[0]
    down = api_settings.model_copy(
        update={"redis_url": SecretStr(f"{host}:{pick_unused_port()}/0")}
    )
    owner = catalog.create_user(f"o-{secrets.token_hex(4)}@example.com", "x", role=Role.CREATOR)
    video = published(catalog, owner.id, "Served without Redis")
    with TestClient(create_app(down)) as client:
        assert client.get(video_url(video.id)).json()["title"] == "Served without Redis"
        assert client.get("/api/v1/videos/trending").status_code == 200
        login = client.post(LOGIN, json={"email": "nobody@example.com", "password": "x" * 10})
        assert login.status_code == 401
        registered = client.post(
            REGISTER, json={"email": "new@example.com", "password": "a long passphrase"}
        )
        assert registered.status_code == 503
        assert registered.json()["code"] == "rate_limit_unavailable"
        assert int(registered.headers["Retry-After"]) >= 1


@pytest.fixture
def own_redis(api_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings on a Redis of the test's own, stopped by the test."""
    url = api_settings.redis_url
    assert url is not None
    port = pick_unused_port()
    host = url.get_secret_value().rsplit(":", 1)[0]
    settings = api_settings.model_copy(
        update={
            "redis_url": SecretStr(f"{host}:{port}/0"),
            "state_dir": tmp_path / "state",
            "redis_cooldown_s": 0.2,
            "rate_limits": {"register:address": "2/600"},
        }
    )
    server = Redis(settings)
    server.launch()
    server.wait_ready()
    yield settings
    server.stop()


def test_the_api_goes_on_when_redis_stops_and_counts_again_when_it_is_back(
    own_redis: Settings,
) -> None:
    server = Redis(own_redis)

    def register() -> int:
        email = f"r-{secrets.token_hex(4)}@example.com"
        body = {"email": email, "password": "a long passphrase"}
        return client.post(REGISTER, json=body).status_code

    with TestClient(create_app(own_redis)) as client:
        assert [register() for _ in range(3)] == [202, 202, 429]
        server.stop()
        assert register() == 503
        assert client.get("/readyz").json()["dependencies"]["redis"].startswith("down")
        assert client.get("/api/v1/videos/trending").status_code == 200
        server.launch()
        server.wait_ready()
        statuses: list[int] = []
        for _ in range(COOL_DOWN_TRIES):
            status = register()
            if status != 503:  # until this worker's breaker has cooled down
                statuses.append(status)
            if len(statuses) == 3:
                break
            time.sleep(0.05)
        # Redis restarted empty: counting starts over.
        assert statuses == [202, 202, 429]


def test_first_pages_share_the_feed_candidates_until_a_video_changes(
    client: TestClient,
    catalog: Catalog,
    api_settings: Settings,
    make_account: Callable[..., Account],
) -> None:
    creator = make_account(Role.CREATOR)
    viewer = make_account()
    first = published(catalog, creator.id, "First")
    age(api_settings.postgres_dsn, first.id, hours=1)

    def listed() -> list[str]:
        response = client.get("/api/v1/videos/feed", headers=viewer.headers)
        assert response.status_code == 200
        return [item["id"] for item in response.json()["items"]]

    assert listed() == [str(first.id)]
    # Published where no API worker hears of it (as by the media pipeline): not listed yet.
    with Catalog(api_settings.postgres_dsn, max_size=1) as elsewhere:
        later = published(elsewhere, creator.id, "Later")
    age(api_settings.postgres_dsn, later.id, hours=0.5)
    assert listed() == [str(first.id)]
    catalog.update_video(first.id, title="First, retitled")
    assert set(listed()) == {str(first.id), str(later.id)}
