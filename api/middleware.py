"""The API's outermost layer, as plain ASGI (no per-request task or stream as with
`BaseHTTPMiddleware`): request bodies over their declared limit refused before any route runs,
and the security headers on every answer."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class LimitsAndHeaders:
    """413 for a declared `Content-Length` over the limit of its path (`upload_prefix` paths:
    `upload_limit`, the rest: `limit`), and `SECURITY_HEADERS` unless a route set its own."""

    def __init__(self, app: ASGIApp, *, limit: int, upload_limit: int, upload_prefix: str) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.upload_prefix = upload_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        declared = Headers(scope=scope).get("content-length")
        upload = scope["path"].startswith(self.upload_prefix)
        limit = self.upload_limit if upload else self.limit
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            refused = error_response(
                413, "payload_too_large", f"the request body is over {limit} bytes"
            )
            await refused(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
