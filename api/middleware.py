"""The API's outermost layers, as plain ASGI (no per-request task or stream as with
`BaseHTTPMiddleware`): every request named by an id and logged once answered; request bodies
over their limit refused (a declared length before any route runs, a streamed one as soon as it
passes the limit), and the security headers on every answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.logs import REQUEST_ID_HEADER, begin_request
from api.metrics import observe_request, route_template
from reelflow.logs import redact_url

access_log = logging.getLogger("api.access")
# The line uvicorn's access log writes (the one `RedactSecrets` reads and people are used to).
ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def content_security_policy(cdn_base_url: str, upload_urls: Sequence[str] = ()) -> str:
    """What the pages may load: their own scripts and styles only (no inline code, so an
    injected script does not run), media and images from this origin and the CDN's, and
    uploads sent to the object store (`upload_urls`: where presigned parts go)."""
    sources = " ".join(["'self'", *_origins([cdn_base_url])])
    uploads = " ".join(["'self'", *_origins([cdn_base_url, *upload_urls])])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {sources} data: blob:",
            f"media-src {sources} blob:",
            f"connect-src {uploads}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _origins(urls: Sequence[str]) -> list[str]:
    found = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme and parts.netloc:
            found.append(f"{parts.scheme}://{parts.netloc}")
    return list(dict.fromkeys(found))


class BodyTooLarge(HTTPException):
    """The body read so far is over the limit: answered 413 by the app's handler of HTTP
    errors (or by `LimitsAndHeaders` when it reaches that far)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over {limit} bytes")


class LimitsAndHeaders:
    """413 for a body over the limit of its path (`upload_prefix` paths: `upload_limit`, the
    rest: `limit`), whether its length is declared or it streams without one (chunked), and
    `headers` (`SECURITY_HEADERS` and the pages' content security policy) unless a route set
    its own."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        upload_limit: int,
        upload_prefix: str,
        headers: Mapping[str, str] = SECURITY_HEADERS,
    ) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.upload_prefix = upload_prefix
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        declared = Headers(scope=scope).get("content-length")
        upload = scope["path"].startswith(self.upload_prefix)
        limit = self.upload_limit if upload else self.limit
        refused = error_response(
            413, "payload_too_large", f"the request body is over {limit} bytes"
        )
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await refused(scope, receive, send_with_headers)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            # A chunked body declares no length: it is counted as it arrives, and refused once
            # past the limit, before a route has buffered it.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_started(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, counted_receive, send_started)
        except BodyTooLarge:
            if started:
                raise
            await refused(scope, receive, send_with_headers)


class RequestLog:
    """Names each request by an id (the caller's `X-Request-ID` when it is a plain token, else a
    new one), sends it back in `X-Request-ID`, and once it is answered writes one access record
    (method, route template, status, duration and the account that made it) and counts it in
    the metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Not reset afterwards: the server's own record of an error escaping this request is
        # made in the same task after this returns, and names the request too. The server
        # serves each request in a task of its own, so the id goes no further.
        context = begin_request(Headers(scope=scope).get(REQUEST_ID_HEADER))
        # Read before the app runs: a mount rewrites the scope's paths on the way in. Redacted
        # here, not only by the server's log handlers: the app also runs under other handlers.
        target = scope.get("root_path", "") + scope["path"]
        if query := scope.get("query_string", b""):
            target = f"{target}?{query.decode('latin-1')}"
        target = redact_url(target)
        started = time.perf_counter()
        # An exception that escapes the app is answered 500 by the server's outermost layer.
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = context.request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            observe_request(scope["method"], route, status, seconds)
            client = scope.get("client")
            address = f"{client[0]}:{client[1]}" if client else "-"
            access_log.info(
                ACCESS_FORMAT,
                address,
                scope["method"],
                target,
                scope.get("http_version", "1.1"),
                status,
                extra={
                    "request_id": context.request_id,
                    "user_id": context.user_id,
                    "method": scope["method"],
                    "route": route,
                    "path": target,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
