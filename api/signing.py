"""Signed URLs: playback grants over a key prefix, and upload URLs.

A playback token grants reading every object under one prefix, such as `videos/<id>/<version>/`.
It travels in the path (`/cdn/t/<token>/<key>`), so the relative URIs of HLS playlists and DASH
manifests (segments, media playlists, sprite sheets) resolve under the same token and inherit
the grant of the manifest URL. The token is base64url(expires + rights + HMAC-SHA256(secret,
purpose, prefix, expires, rights)) with `expires` as 8 bytes big-endian Unix seconds and `rights`
(the video's rights version when the URL was signed) as 4. It does not name its prefix: `verify`
tries the folders that contain the requested key, a handful of HMACs.

Upload URLs carry `expires` and `signature` as query parameters over the upload id. Every MAC
starts with a purpose string, so a signature made for one use is never accepted for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote
from uuid import UUID

from storage.objects import InvalidKey, folder_of, validate_key

if TYPE_CHECKING:
    from reelflow.settings import Settings

PLAYBACK_PURPOSE = "reelflow-playback-v2"
UPLOAD_PURPOSE = "reelflow-upload-v1"
# A playback token's expiry (Unix seconds) and rights version, before its MAC.
_HEADER = struct.Struct(">QI")
_MAC_BYTES = hashlib.sha256().digest_size
# 44 bytes in base64url without padding.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{59}")
_SIGNATURE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_EXPIRES_RE = re.compile(r"\d{1,12}")


class Grant(StrEnum):
    """What a signed upload URL allows."""

    VALID = "valid"
    INVALID = "invalid"
    EXPIRED = "expired"


class PlaybackGrant(NamedTuple):
    """What a verified playback token grants: until when (Unix seconds), and at which rights
    version of its video it was signed."""

    expires: int
    rights: int


@dataclass(frozen=True)
class SignedPrefix:
    """A token for every key under `prefix` until `expires_at`."""

    prefix: str
    token: str
    expires_at: datetime

    def path(self, key: str) -> str:
        """The CDN path of `key` (relative to the CDN base URL) under this grant."""
        if not key.startswith(self.prefix):
            raise ValueError(f"{key!r} is not under the signed prefix {self.prefix!r}")
        return f"t/{self.token}/{key}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UrlSigner:
    """Signs and verifies URLs with the deployment's URL signing secret."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("URL signing needs a non-empty secret")
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlSigner:
        return cls(settings.url_signing_secret.get_secret_value().encode())

    def _mac(self, purpose: str, subject: str, expires: int) -> bytes:
        # Keys and upload ids never hold a newline, so the fields cannot be shifted.
        message = f"{purpose}\n{subject}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def sign_prefix(
        self, prefix: str, ttl_s: int, now: float | None = None, *, rights: int = 0
    ) -> SignedPrefix:
        """A token for every key under the folder `prefix` for `ttl_s` seconds, signed at the
        video's `rights` version."""
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, not {ttl_s}")
        folder = folder_of(prefix)
        if not folder:
            raise ValueError("a playback grant needs a non-empty prefix")
        expires = int(time.time() if now is None else now) + ttl_s
        mac = self._playback_mac(folder, expires, rights)
        token = _b64(_HEADER.pack(expires, rights) + mac)
        return SignedPrefix(folder, token, datetime.fromtimestamp(expires, UTC))

    def _playback_mac(self, folder: str, expires: int, rights: int) -> bytes:
        return self._mac(PLAYBACK_PURPOSE, f"{folder}\n{rights}", expires)

    def verify(self, token: str, path: str, now: float | None = None) -> PlaybackGrant | None:
        """What `token` grants if it is unexpired and grants a folder that contains the key
        `path`; else None."""
        if not _TOKEN_RE.fullmatch(token):
            return None
        try:
            segments = validate_key(path).split("/")
        except InvalidKey:
            return None
        raw = _unb64(token)
        expires, rights = _HEADER.unpack(raw[: _HEADER.size])
        mac = raw[_HEADER.size :]
        if len(mac) != _MAC_BYTES or expires < (time.time() if now is None else now):
            return None
        granted = False
        # Every candidate is compared, so the time taken does not tell which folder matched.
        for depth in range(1, len(segments)):
            folder = "/".join(segments[:depth]) + "/"
            granted |= hmac.compare_digest(mac, self._playback_mac(folder, expires, rights))
        return PlaybackGrant(expires, rights) if granted else None

    def sign_upload(self, upload_id: UUID, expires: int) -> str:
        """The `signature` query parameter of an upload URL valid until `expires` (Unix s)."""
        return _b64(self._mac(UPLOAD_PURPOSE, str(upload_id), expires))

    def check_upload(
        self, upload_id: UUID, expires: str, signature: str, now: float | None = None
    ) -> Grant:
        """Whether an upload URL's `expires` and `signature` are authentic and still valid.

        Authenticity is checked first: a forged URL is INVALID even when its expiry has passed.
        """
        if not _EXPIRES_RE.fullmatch(expires) or not _SIGNATURE_RE.fullmatch(signature):
            return Grant.INVALID
        expected = self.sign_upload(upload_id, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return Grant.INVALID
        if int(expires) < (time.time() if now is None else now):
            return Grant.EXPIRED
        return Grant.VALID


def cdn_url(settings: Settings, grant: SignedPrefix, key: str) -> str:
    """The public URL of `key` under `grant`."""
    return f"{settings.cdn_base_url.rstrip('/')}/{quote(grant.path(key), safe='/')}"


def cdn_key(settings: Settings, url: str) -> str | None:
    """The object key behind one of our CDN URLs, or None for any other URL."""
    base = settings.cdn_base_url.rstrip("/") + "/"
    if not url.startswith(base):
        return None
    try:
        return validate_key(url[len(base) :])
    except InvalidKey:
        return None


def signed_poster_url(
    settings: Settings, url: str | None, signer: UrlSigner | None = None, *, rights: int = 0
) -> str | None:
    """A poster on our CDN, signed on its own folder only (the poster of a premium video is
    public while its streams are not) at its video's `rights` version. Any other URL is
    returned as it is."""
    key = cdn_key(settings, url) if url else None
    if key is None or "/" not in key:
        return url
    signer = signer or UrlSigner.from_settings(settings)
    grant = signer.sign_prefix(key.rsplit("/", 1)[0], settings.signed_url_ttl_s, rights=rights)
    return cdn_url(settings, grant, key)
