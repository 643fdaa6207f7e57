"""The body limit at the ASGI layer: a body without a declared length is counted as it arrives
and refused once past the limit, before the app has read the rest."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from api.middleware import LimitsAndHeaders, content_security_policy

LIMIT = 1000
CHUNK = 100


async def reads_the_whole_body(scope: Scope, receive: Receive, send: Send) -> None:
    body = await Request(scope, receive).body()
    await JSONResponse({"read": len(body)})(scope, receive, send)


def call(chunks: int, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, object], int]:
    """The status and JSON body of a POST of `chunks` chunks, and how many were pulled."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": pulled < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/auth/login",
        "headers": headers,
    }
    app = LimitsAndHeaders(
        reads_the_whole_body, limit=LIMIT, upload_limit=10 * LIMIT, upload_prefix="/uploads/"
    )
    # A thread of its own: the test process may already run an event loop (the browser tests').
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, app(scope, receive, send)).result()
    body = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    return sent[0]["status"], body, pulled


def test_a_streamed_body_is_refused_once_past_the_limit() -> None:
    status, body, pulled = call(100, [(b"transfer-encoding", b"chunked")])
    assert (status, body["code"]) == (413, "payload_too_large")
    # One chunk past the limit, not the 100 the client would have sent.
    assert pulled == LIMIT // CHUNK + 1


def test_a_streamed_body_within_the_limit_reaches_the_app() -> None:
    assert call(LIMIT // CHUNK, [(b"transfer-encoding", b"chunked")])[:2] == (
        200,
        {"read": LIMIT},
    )


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    status, _, pulled = call(100, [(b"content-length", str(100 * CHUNK).encode())])
    assert (status, pulled) == (413, 0)


def test_the_pages_policy_names_the_cdn_and_where_uploads_go_and_allows_no_inline_code() -> None:
    policy = dict(
        part.split(" ", 1)
        for part in content_security_policy(
            "https://cdn.example/media", ["http://127.0.0.1:19000", "https://cdn.example/x"]
        ).split("; ")
    )
    assert policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["media-src"] == "'self' https://cdn.example blob:"
    assert policy["connect-src"] == "'self' https://cdn.example http://127.0.0.1:19000"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
