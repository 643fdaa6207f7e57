"""Wrapping of per-video DRM content keys under the deployment's master key.

A wrapped key is `version byte || 12-byte nonce || AES-256-GCM(content key) || tag`. The video id
is the associated data, so a wrapped key copied onto another video's row fails to unwrap instead
of silently decrypting that video's streams with the wrong key.
"""

from __future__ import annotations

import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# CENC, CBCS and HLS AES-128 all encrypt media with 128-bit AES keys.
CONTENT_KEY_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
WRAP_FORMAT_VERSION = 1
WRAPPED_KEY_BYTES = 1 + NONCE_BYTES + CONTENT_KEY_BYTES + TAG_BYTES

# Distinct HKDF info and AAD prefixes keep these keys and ciphertexts useless to any other use
# of the same secret string (and let a future format change bump the version).
_HKDF_INFO = b"reelflow/drm/master-key/v1"
_AAD_PREFIX = b"reelflow/drm/content-key/v1:"


class KeyUnwrapError(ValueError):
    """A wrapped content key failed to decrypt: wrong master key, wrong video or tampered bytes."""


def derive_master_key(secret: str) -> bytes:
    """The 256-bit AES key derived from a master secret string of any length."""
    if not secret:
        raise ValueError("the DRM master secret must not be empty")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO)
    return hkdf.derive(secret.encode("utf-8"))


def wrap_content_key(content_key: bytes, *, video_id: UUID, master_key: str) -> bytes:
    """Encrypt a content key under the master key, bound to `video_id`."""
    if len(content_key) != CONTENT_KEY_BYTES:
        raise ValueError(
            f"a content key is {CONTENT_KEY_BYTES} bytes, got {len(content_key)} bytes"
        )
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derive_master_key(master_key)).encrypt(
        nonce, content_key, _associated_data(video_id)
    )
    return bytes([WRAP_FORMAT_VERSION]) + nonce + sealed


def unwrap_content_key(wrapped: bytes, *, video_id: UUID, master_key: str) -> bytes:
    """Decrypt a key made by `wrap_content_key` for the same video and master key."""
    if len(wrapped) != WRAPPED_KEY_BYTES or wrapped[0] != WRAP_FORMAT_VERSION:
        raise KeyUnwrapError("not a wrapped content key of a known format")
    nonce, sealed = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
    try:
        return AESGCM(derive_master_key(master_key)).decrypt(
            nonce, sealed, _associated_data(video_id)
        )
    except InvalidTag:
        raise KeyUnwrapError(
            f"content key does not unwrap for video {video_id} under this master key"
        ) from None


def _associated_data(video_id: UUID) -> bytes:
    return _AAD_PREFIX + video_id.bytes
