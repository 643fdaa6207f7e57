"""Several API processes share their state through Redis: two `reelflow api` servers on one
database count one rate limit and honour each other's sign-outs at once, and `--workers 2`
serves from two worker processes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
import psutil
import pytest
import redis

from api.security import decode_access_token, hash_password
from api.sessions import start_session
from reelflow.settings import Settings
from storage.catalog import Catalog, Role
from tests.fixtures.api_module import isolated_api_settings
from tests.fixtures.processes import api_server

LOGINS_PER_ADDRESS = 4
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/users/me"


@dataclass(frozen=True)
class Processes:
    settings: Settings
    catalog: Catalog
    urls: tuple[str, str]


@pytest.fixture(scope="module")
def processes(
    dev_stack: Settings,
    migrated_template: str,
    api_keyspace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Processes]:
    directory = tmp_path_factory.mktemp("api-processes")
    with isolated_api_settings(dev_stack, migrated_template, api_keyspace, directory) as base:
        settings = base.model_copy(
            update={"rate_limits": {"login:address": f"{LOGINS_PER_ADDRESS}/600"}}
        )
        first, first_url = api_server(settings, directory)
        with first, Catalog(settings.postgres_dsn, max_size=2) as catalog:
            second, second_url = api_server(settings, directory)
            with second:
                yield Processes(settings, catalog, (first_url, second_url))


def new_account(catalog: Catalog) -> tuple[str, str]:
    email = f"viewer-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    catalog.create_user(email, hash_password(password), role=Role.VIEWER)
    return email, password


def test_the_login_limit_of_an_address_is_counted_once_across_processes(
    processes: Processes,
) -> None:
    email, password = new_account(processes.catalog)
    statuses = []
    for attempt in range(LOGINS_PER_ADDRESS + 2):
        url = processes.urls[attempt % 2]
        response = httpx.post(f"{url}{LOGIN}", json={"email": email, "password": password})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert 1 <= int(response.headers["Retry-After"]) <= 600
            assert response.json()["code"] == "rate_limited"
    # Each process alone has seen at most three; only a shared count refuses the fifth.
    assert statuses == [200] * LOGINS_PER_ADDRESS + [429, 429]


def test_signing_out_on_one_process_ends_the_token_on_the_other(processes: Processes) -> None:
    first, second = processes.urls
    email, _ = new_account(processes.catalog)
    # Signed in without the login route, whose limit the test above uses up.
    user = processes.catalog.get_user_by_email(email)
    tokens = start_session(processes.catalog, processes.settings, user)
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    for url in (first, second, second):
        assert httpx.get(f"{url}{ME}", headers=headers).status_code == 200
    # The session check the other process reads is the one in Redis.
    assert processes.settings.redis_url is not None
    shared = redis.Redis.from_url(processes.settings.redis_url.get_secret_value())
    session = decode_access_token(
        tokens.access_token, processes.settings.jwt_secret.get_secret_value()
    )["sid"]
    assert shared.hexists(f"{processes.settings.redis_namespace}:sessions:{user.id}", session)
    signed_out = httpx.post(
        f"{first}/api/v1/auth/logout",
        json={"refresh_token": tokens.refresh_token},
        headers=headers,
    )
    assert signed_out.status_code == 204
    refused = httpx.get(f"{second}{ME}", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["message"] == "the session has ended; sign in again"


def test_two_workers_answer_from_two_processes(processes: Processes, tmp_path: Path) -> None:
    server, url = api_server(processes.settings, tmp_path, "--workers", "2")
    with server:
        workers = [
            child
            for child in psutil.Process(server.pid).children(recursive=True)
            if "multiprocessing.resource_tracker" not in " ".join(child.cmdline())
        ]
        assert len(workers) == 2, [w.cmdline() for w in workers]
        for _ in range(4):
            assert httpx.get(f"{url}/readyz").json()["dependencies"]["redis"] == "ok"
    assert not any(worker.is_running() for worker in workers)


def test_the_access_log_keeps_no_token_or_signature(processes: Processes, tmp_path: Path) -> None:
    server, url = api_server(processes.settings, tmp_path)
    with server:
        secret = "tok3n-" + secrets.token_hex(8)
        assert httpx.get(f"{url}/cdn/t/{secret}/videos/x/v1/a.m3u8").status_code == 403
        put = httpx.put(f"{url}/api/v1/uploads/{uuid4()}?expires=1&signature={secret}")
        assert put.status_code in (400, 403, 404)
        logged = server.log.read_text()
    assert "/cdn/t/[redacted]/videos/x/v1/a.m3u8" in logged
    assert "signature=[redacted]" in logged
    assert secret not in logged
