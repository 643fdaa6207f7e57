"""Access logs without the secrets that URLs carry: an upload URL's signature, a presigned S3
URL's signature and credentials, and the token in a CDN path grant whoever holds them access
until they expire, and logs are read by more people than the grants were meant for."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_SECRET_PARAMS = re.compile(
    r"(?P<name>(?:^|[?&])(?:signature|x-amz-signature|x-amz-credential|x-amz-security-token)=)"
    r"[^&#\s]*",
    re.IGNORECASE,
)
_CDN_TOKEN = re.compile(r"(?P<prefix>/cdn/t/)[^/?#\s]+")


def redact_url(target: str) -> str:
    """`target` (a path with its query) with every secret replaced by `[redacted]`."""
    target = _SECRET_PARAMS.sub(rf"\g<name>{REDACTED}", target)
    return _CDN_TOKEN.sub(rf"\g<prefix>{REDACTED}", target)


class RedactSecrets(logging.Filter):
    """For uvicorn's access log, whose records carry the request target as their third
    argument: `(client, method, target, http version, status)`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_url(args[2]), *args[3:])
        return True
