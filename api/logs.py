"""The API's log lines: JSON objects (`reelflow.logs`) that name the request they were made for.

Each record made while a request is served names the request (`request_id`, also sent back in
the `X-Request-ID` header, so that a caller's report finds the lines) and, once the bearer token
was checked, the account (`user_id`).
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID

from reelflow import logs
from reelflow.logs import redact_url

REQUEST_ID_HEADER = "X-Request-ID"
# An id a caller's proxy or client sends is kept only when it cannot forge a log line or grow
# it without bound.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# What `JsonFormatter` writes of a record's own attributes (passed as `extra`), in this order.
FIELDS = ("request_id", "user_id", "method", "route", "path", "status", "duration_ms")


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


class JsonFormatter(logs.JsonFormatter):
    """The request's ids and the `FIELDS` a record carries, on each line."""

    def context(self, record: logging.LogRecord) -> dict[str, object]:
        fields: dict[str, object] = {}
        request = current_request()
        if request is not None:
            fields["request_id"] = request.request_id
            if request.user_id is not None:
                fields["user_id"] = request.user_id
        for field in FIELDS:
            value = getattr(record, field, None)
            # A route is the app's own template (`/cdn/t/{token}/{key}`), never request text.
            if isinstance(value, str) and field != "route":
                value = logs.redact_text(value)
            if value is not None:
                fields[field] = value
        return fields
