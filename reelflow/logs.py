"""Log lines as JSON objects, without the secrets that URLs and headers carry.

An upload URL's signature, a presigned S3 URL's signature and credentials, the token in a CDN
path and a bearer token grant whoever holds them access until they expire, and logs are read by
more people than the grants were meant for: every line is scrubbed of them, whatever logged it.
The API's lines add the request they were made for (`api.logs`), the pipeline's the Dagster run
(`pipelines.logs`).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

REDACTED = "[redacted]"
_SECRET_PARAMS = re.compile(
    r"(?P<name>(?:^|[?&])(?:signature|x-amz-signature|x-amz-credential|x-amz-security-token)=)"
    r"[^&#\s]*",
    re.IGNORECASE,
)
_CDN_TOKEN = re.compile(r"(?P<prefix>/cdn/t/)[^/?#\s]+")
_BEARER = re.compile(r"(?P<scheme>\bbearer\s+)[^\s\"',;]+", re.IGNORECASE)
# A JWT's header is base64url JSON, so it starts with `eyJ` ('{"'), whatever the token says.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact_url(target: str) -> str:
    """`target` (a path with its query) with every secret replaced by `[redacted]`."""
    target = _SECRET_PARAMS.sub(rf"\g<name>{REDACTED}", target)
    return _CDN_TOKEN.sub(rf"\g<prefix>{REDACTED}", target)


def redact_text(text: str) -> str:
    """Free text (a message, a traceback) without URL secrets, bearer tokens and JWTs."""
    text = _BEARER.sub(rf"\g<scheme>{REDACTED}", redact_url(text))
    return _JWT.sub(REDACTED, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, what `context` adds, and
    any traceback; secrets scrubbed from every text."""

    def context(self, record: logging.LogRecord) -> dict[str, object]:
        """Fields of the work the record was made for (none here)."""
        return {}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
            **self.context(record),
        }
        if record.exc_info:
            line["exception"] = redact_text(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact_text(record.exc_text)
        if record.stack_info:
            line["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(line, default=str, ensure_ascii=False)
