"""Keys, prefixes, content types and publish versions: the names every store agrees on."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from storage.objects.errors import InvalidKey

CURRENT = "CURRENT"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".cmfv": "video/mp4",
    ".cmfa": "audio/mp4",
    ".ts": "video/mp2t",
    ".aac": "audio/aac",
    ".webm": "video/webm",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Uploaded after everything else by `put_tree`, so a manifest never names a missing segment.
MANIFEST_SUFFIXES = frozenset({".m3u8", ".mpd"})
MAX_KEY_BYTES = 1024
VERSION_RE = re.compile(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}")
# Names the local store keeps for itself (temp files, content-type sidecars, multipart parts);
# never valid in keys.
RESERVED_PREFIX = ".reelflow-"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_key(key: str) -> str:
    """Return `key` if it can name an object in every store, else raise `InvalidKey`.

    A key is non-empty, at most 1024 UTF-8 bytes, made of non-empty `/`-separated segments
    (so no leading, trailing or doubled `/`), with no `.` or `..` segment, no backslash and no
    control character; segments starting with `.reelflow-` are reserved for the local store.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(key, "a key is a non-empty string")
    if key.startswith("/"):
        raise InvalidKey(key, "keys are relative: no leading '/'")
    if "\\" in key:
        raise InvalidKey(key, "backslashes are not allowed")
    if _CONTROL.search(key):
        raise InvalidKey(key, "control characters are not allowed")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(key, f"longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(key, "empty path segment (trailing or doubled '/')")
        if segment in {".", ".."}:
            raise InvalidKey(key, f"'{segment}' segments are not allowed")
        if segment.startswith(RESERVED_PREFIX):
            raise InvalidKey(key, f"segments starting with {RESERVED_PREFIX!r} are reserved")
    return key


def folder_of(prefix: str) -> str:
    """The normalised folder for a prefix: `""` for everything, else `"a/b/"`."""
    if prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise InvalidKey(prefix, "a prefix is a string")
    stripped = prefix[:-1] if prefix.endswith("/") else prefix
    return validate_key(stripped) + "/"


def guess_content_type(key: str) -> str:
    """The content type a key's extension implies (`application/octet-stream` if unknown)."""
    return CONTENT_TYPES.get(Path(key).suffix.lower(), DEFAULT_CONTENT_TYPE)


def new_version(now: datetime | None = None) -> str:
    """A publish version: sorts by UTC time (to the microsecond), random suffix against ties."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S}.{moment.microsecond:06d}Z-{secrets.token_hex(3)}"
