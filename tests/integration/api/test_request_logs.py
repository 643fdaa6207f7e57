"""The log of a running `reelflow api` is JSON lines: each request's access record names its
request id (the caller's, or a new one, sent back in `X-Request-ID`), route template, status,
duration and, once signed in, its account; no token, password or URL signature is written."""

from __future__ import annotations

import http.client
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import uuid4

import httpx
import pytest

from api.security import hash_password
from api.signing import UrlSigner
from devstack.processes import Server
from reelflow.settings import Settings
from storage.catalog import Catalog, Role
from tests.fixtures.api_module import isolated_api_settings
from tests.fixtures.load import wait_until
from tests.fixtures.processes import api_server

ME = "/api/v1/users/me"
LOGGED_WITHIN_S = 30.0


@dataclass(frozen=True)
class Api:
    settings: Settings
    catalog: Catalog
    server: Server
    url: str

    def records(self) -> list[dict[str, Any]]:
        """The JSON records of the log (the lines the test harness adds are plain text)."""
        lines = self.server.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def access_record(self, request_id: str) -> dict[str, Any]:
        """The access record of a request, written just after its answer was sent."""
        found: list[dict[str, Any]] = []

        def logged() -> bool:
            found[:] = [
                record
                for record in self.records()
                if record["logger"] == "api.access" and record.get("request_id") == request_id
            ]
            return bool(found)

        wait_until(logged, LOGGED_WITHIN_S, f"the access record of {request_id}")
        assert len(found) == 1, found
        return found[0]


def send_unlogged(url: str, method: str, target: str, request_id: str) -> int:
    """The status of a request sent with http.client, which logs nothing: httpx logs every URL
    it requests, and the run's log audit (tests/fixtures/log_audit.py) reads this process's
    records too."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request(method, target, headers={"X-Request-ID": request_id})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def api(
    dev_stack: Settings,
    migrated_template: str,
    api_keyspace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    directory = tmp_path_factory.mktemp("api-logs")
    with isolated_api_settings(dev_stack, migrated_template, api_keyspace, directory) as settings:
        server, url = api_server(settings, directory)
        with server, Catalog(settings.postgres_dsn, max_size=2) as catalog:
            yield Api(settings, catalog, server, url)


def test_the_server_logs_json_lines(api: Api) -> None:
    records = api.records()
    assert any(record["message"] == "Application startup complete." for record in records)
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()


def test_a_request_keeps_the_id_its_caller_sent(api: Api) -> None:
    sent = f"trace-{secrets.token_hex(6)}.A_1"
    response = httpx.get(f"{api.url}/healthz", headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] == sent
    record = api.access_record(sent)
    assert record["level"] == "INFO"
    assert (record["method"], record["route"], record["path"], record["status"]) == (
        "GET",
        "/healthz",
        "/healthz",
        200,
    )
    assert record["duration_ms"] >= 0
    assert "user_id" not in record


@pytest.mark.parametrize("sent", [None, "two words", "x" * 65, "a/b", "id;drop"])
def test_a_request_without_a_fit_id_gets_a_new_one(api: Api, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    missing = uuid4()
    response = httpx.get(f"{api.url}/api/v1/videos/{missing}", headers=headers)
    assert response.status_code == 404
    given = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", given)
    record = api.access_record(given)
    assert (record["route"], record["status"]) == ("/api/v1/videos/{video_id}", 404)
    assert record["path"] == f"/api/v1/videos/{missing}"


def test_a_signed_in_request_names_its_account_and_no_secret_is_logged(api: Api) -> None:
    email = f"viewer-{secrets.token_hex(4)}@example.com"
    password = f"pw-{secrets.token_urlsafe(12)}"
    user = api.catalog.create_user(email, hash_password(password), role=Role.VIEWER)
    login = httpx.post(f"{api.url}/api/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200
    tokens = login.json()
    access_token, refresh_token = tokens["access_token"], tokens["refresh_token"]
    signed_in = {"Authorization": f"Bearer {access_token}"}

    me = httpx.get(f"{api.url}{ME}", headers=signed_in | {"X-Request-ID": "me-1"})
    assert me.status_code == 200
    record = api.access_record("me-1")
    assert (record["user_id"], record["route"], record["status"]) == (str(user.id), ME, 200)
    anonymous = httpx.get(f"{api.url}{ME}", headers={"X-Request-ID": "me-2"})
    assert anonymous.status_code == 401
    assert "user_id" not in api.access_record("me-2")

    forged = "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(24) + "." + secrets.token_urlsafe(16)
    refused = httpx.get(f"{api.url}{ME}", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401
    refreshed = httpx.post(f"{api.url}/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert refreshed.status_code == 401

    signer = UrlSigner.from_settings(api.settings)
    # Authentic and unexpired: the URL passes its check and only the upload is missing.
    upload_id, expires = uuid4(), int(time.time()) + 3600
    signature = signer.sign_upload(upload_id, expires)
    query = urlencode({"expires": str(expires), "signature": signature})
    upload = send_unlogged(api.url, "HEAD", f"/api/v1/uploads/{upload_id}?{query}", "upload-1")
    assert upload == 404
    grant = signer.sign_prefix(f"videos/{uuid4()}/", 3600)
    stream = f"/cdn/t/{grant.token}/{grant.prefix}v1/master.m3u8"
    assert send_unlogged(api.url, "GET", stream, "cdn-1") in (403, 404)

    upload_record = api.access_record("upload-1")
    assert upload_record["route"] == "/api/v1/uploads/{upload_id}"
    assert f"signature={'[redacted]'}" in upload_record["path"]
    assert api.access_record("cdn-1")["route"] == "/cdn/t/{token}/{key}"
    logged = api.server.log.read_text()
    for secret in (access_token, refresh_token, forged, password, signature, grant.token):
        assert secret not in logged
    assert "Bearer" not in logged
