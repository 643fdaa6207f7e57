"""Request ids a caller may choose, and log records as JSON lines that name their request and
carry no secret."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.logs import JsonFormatter, begin_request, current_request, record_user, request_id
from api.middleware import RequestLog
from reelflow.logs import REDACTED, redact_text

NEW_ID = re.compile(r"[0-9a-f]{32}")
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize("sent", ["a", "Trace-1.b_2", "x" * 64, "0123456789abcdef"])
def test_a_plain_id_of_at_most_64_characters_is_kept(sent: str) -> None:
    assert request_id(sent) == sent


@pytest.mark.parametrize(
    "sent", [None, "", "x" * 65, "two words", "a/b", 'quote"d', "line\nbreak", "naïve", "a;b"]
)
def test_any_other_id_is_replaced_by_a_new_one(sent: str | None) -> None:
    given = request_id(sent)
    assert NEW_ID.fullmatch(given)
    assert given != request_id(sent)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"Authorization: Bearer {JWT}", f"Authorization: Bearer {REDACTED}"),
        ("authorization: bearer opaque-token-123", f"authorization: bearer {REDACTED}"),
        (f"token {JWT} refused", f"token {REDACTED} refused"),
        ("PUT /uploads/1?expires=9&signature=abc", "PUT /uploads/1?expires=9&signature=[redacted]"),
        ("/cdn/t/AAAA.bbbb/videos/7/a.m3u8", "/cdn/t/[redacted]/videos/7/a.m3u8"),
        ("video 42 published", "video 42 published"),
    ],
)
def test_free_text_loses_tokens_and_signatures(text: str, kept: str) -> None:
    assert redact_text(text) == kept


def record(message: str, *args: object, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("api.access", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def formatted(made: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(made)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_a_record_is_one_json_object_with_its_fields() -> None:
    line = formatted(
        record(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/cdn/t/s3cr3t-token/videos/x/a.m3u8",
            "1.1",
            403,
            request_id="r-1",
            method="GET",
            route="/cdn/t/{token}/{key}",
            path="/cdn/t/s3cr3t-token/videos/x/a.m3u8",
            status=403,
            duration_ms=1.5,
        )
    )
    assert line["time"].endswith("+00:00")
    assert (line["level"], line["logger"]) == ("INFO", "api.access")
    assert line["message"] == (
        '127.0.0.1:5000 - "GET /cdn/t/[redacted]/videos/x/a.m3u8 HTTP/1.1" 403'
    )
    assert line["path"] == "/cdn/t/[redacted]/videos/x/a.m3u8"
    # The route is the app's template, left as it is.
    assert line["route"] == "/cdn/t/{token}/{key}"
    assert (line["request_id"], line["status"], line["duration_ms"]) == ("r-1", 403, 1.5)
    assert "user_id" not in line


def test_records_made_while_serving_a_request_name_it_and_its_account() -> None:
    user_id = uuid4()

    def serve() -> dict[str, Any]:
        context = begin_request("trace-7")
        # A thread-pool dependency runs in a copy of the request's context.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(contextvars.copy_context().run, record_user, user_id).result()
        assert current_request() is context
        return formatted(record("Redis failed; serving without it"))

    line = contextvars.copy_context().run(serve)
    assert (line["request_id"], line["user_id"]) == ("trace-7", str(user_id))
    assert current_request() is None


def test_a_traceback_loses_its_secrets_too() -> None:
    try:
        raise ValueError(f"bad header Bearer {JWT}")
    except ValueError:
        made = logging.LogRecord(
            "api.errors", logging.ERROR, __file__, 1, "unhandled error", (), sys.exc_info()
        )
    line = formatted(made)
    assert "ValueError: bad header Bearer [redacted]" in line["exception"]
    assert JWT not in json.dumps(line)


def test_the_access_record_holds_no_signature_under_any_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    app.add_middleware(RequestLog)
    # Shorter than real ones: httpx logs the URLs it requests, and the run's log audit would
    # take longer ones there for leaked secrets.
    with caplog.at_level(logging.INFO, logger="api.access"), TestClient(app) as client:
        response = client.get("/cdn/t/tok123/a.m3u8?signature=sig123")
    (access,) = [made for made in caplog.records if made.name == "api.access"]
    logged = '"GET /cdn/t/[redacted]/a.m3u8?signature=[redacted] HTTP/1.1" 404'
    assert access.getMessage().endswith(logged)
    assert access.__dict__["path"] == "/cdn/t/[redacted]/a.m3u8?signature=[redacted]"
    assert access.__dict__["request_id"] == response.headers["X-Request-ID"]
