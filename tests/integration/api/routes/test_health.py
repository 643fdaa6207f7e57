"""/healthz answers while the process runs; /readyz names the dependency that is down, and
reports Redis without depending on it; the API does not start on an unmigrated keyspace."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient
from portpicker import pick_unused_port
from pydantic import SecretStr

from api.main import create_app
from reelflow.settings import Settings
from storage.keyspace import SchemaOutOfDate
from tests.fixtures.catalog import on_port


def test_live_and_ready_with_every_dependency_up(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "dependencies": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "dependencies": {
            "postgres": "ok",
            "cassandra": "ok",
            "redis": "ok",
            "postgres_replica": "not configured",
        },
    }
    assert ready.headers["x-content-type-options"] == "nosniff"


def test_readyz_says_cassandra_is_down(api_settings: Settings) -> None:
    broken = api_settings.model_copy(update={"cassandra_port": pick_unused_port()})
    with TestClient(create_app(broken)) as down:
        assert down.get("/healthz").status_code == 200
        ready = down.get("/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not ready"
        assert body["dependencies"]["postgres"] == "ok"
        assert body["dependencies"]["cassandra"].startswith("down")


def test_the_api_refuses_to_start_on_a_keyspace_older_than_the_release(
    api_settings: Settings, history_keyspace: str
) -> None:
    unmigrated = api_settings.model_copy(update={"cassandra_keyspace": history_keyspace})
    with (
        pytest.raises(SchemaOutOfDate, match="Run `reelflow migrate` first"),
        TestClient(create_app(unmigrated)),
    ):
        pass


def test_readyz_says_postgres_is_down(api_settings: Settings) -> None:
    dsn = on_port(api_settings.postgres_dsn, pick_unused_port())
    broken = api_settings.model_copy(update={"postgres_dsn": dsn})
    with TestClient(create_app(broken)) as down:
        ready = down.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["dependencies"]["postgres"].startswith("down")
        assert ready.json()["dependencies"]["cassandra"] == "ok"


def test_readyz_reports_redis_down_and_stays_ready(api_settings: Settings) -> None:
    url = api_settings.redis_url
    assert url is not None
    parts = urlsplit(url.get_secret_value())
    moved = parts._replace(netloc=f"{parts.netloc.rsplit(':', 1)[0]}:{pick_unused_port()}")
    broken = api_settings.model_copy(update={"redis_url": SecretStr(urlunsplit(moved))})
    with TestClient(create_app(broken)) as degraded:
        ready = degraded.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready"
        assert body["dependencies"]["redis"] == "down: ConnectionError"
        assert "redis-password" not in ready.text


def test_readyz_without_redis_configured(api_settings: Settings) -> None:
    with TestClient(create_app(api_settings.model_copy(update={"redis_url": None}))) as plain:
        ready = plain.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["dependencies"]["redis"] == "not configured"
