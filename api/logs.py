"""The API's logs as JSON lines, one object per record, without the secrets requests carry.

An upload URL's signature, a presigned S3 URL's signature and credentials, the token in a CDN
path and a bearer token grant whoever holds them access until they expire, and logs are read by
more people than the grants were meant for: every line is scrubbed of them, whatever logged it.

Each record made while a request is served names the request (`request_id`, also sent back in
the `X-Request-ID` header, so that a caller's report finds the lines) and, once the bearer token
was checked, the account (`user_id`).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

REDACTED = "[redacted]"
REQUEST_ID_HEADER = "X-Request-ID"
_SECRET_PARAMS = re.compile(
    r"(?P<name>(?:^|[?&])(?:signature|x-amz-signature|x-amz-credential|x-amz-security-token)=)"
    r"[^&#\s]*",
    re.IGNORECASE,
)
_CDN_TOKEN = re.compile(r"(?P<prefix>/cdn/t/)[^/?#\s]+")
_BEARER = re.compile(r"(?P<scheme>\bbearer\s+)[^\s\"',;]+", re.IGNORECASE)
# A JWT's header is base64url JSON, so it starts with `eyJ` ('{"'), whatever the token says.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# An id a caller's proxy or client sends is kept only when it cannot forge a log line or grow
# it without bound.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# What `JsonFormatter` writes of a record's own attributes (passed as `extra`), in this order.
FIELDS = ("request_id", "user_id", "method", "route", "path", "status", "duration_ms")


def redact_url(target: str) -> str:
    """`target` (a path with its query) with every secret replaced by `[redacted]`."""
    target = _SECRET_PARAMS.sub(rf"\g<name>{REDACTED}", target)
    return _CDN_TOKEN.sub(rf"\g<prefix>{REDACTED}", target)


def redact_text(text: str) -> str:
    """Free text (a message, a traceback) without URL secrets, bearer tokens and JWTs."""
    text = _BEARER.sub(rf"\g<scheme>{REDACTED}", redact_url(text))
    return _JWT.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    """For access records, which carry the request target as their third argument:
    `(client, method, target, http version, status)`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_url(args[2]), *args[3:])
        return True


def request_id(sent: str | None) -> str:
    """The id of a request: the one its caller sent when it is a plain token of at most 64
    characters, else a new one."""
    if sent is not None and _SANE_REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


@dataclass
class RequestContext:
    """The request being served, as its log records name it."""

    request_id: str
    user_id: str | None = None


_request: ContextVar[RequestContext | None] = ContextVar("reelflow_request", default=None)


def begin_request(sent_id: str | None) -> RequestContext:
    """Name the request served in this context (and the records made while serving it)."""
    context = RequestContext(request_id(sent_id))
    _request.set(context)
    return context


def current_request() -> RequestContext | None:
    return _request.get()


def record_user(user_id: UUID) -> None:
    """The request is made by `user_id`. The context object is shared, so this reaches the
    request's later records even when set from a thread-pool dependency (which runs in a copy
    of the context)."""
    context = _request.get()
    if context is not None:
        context.user_id = str(user_id)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request's ids and the
    `FIELDS` a record carries; secrets scrubbed from the message and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        context = current_request()
        if context is not None:
            line["request_id"] = context.request_id
            if context.user_id is not None:
                line["user_id"] = context.user_id
        for field in FIELDS:
            value = getattr(record, field, None)
            # A route is the app's own template (`/cdn/t/{token}/{key}`), never request text.
            if isinstance(value, str) and field != "route":
                value = redact_text(value)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact_text(record.exc_text)
        if record.stack_info:
            line["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(line, default=str, ensure_ascii=False)
