"""Wrapping DRM content keys under the master key."""

from __future__ import annotations

import os
from uuid import uuid4

import pytest

from storage.crypto import (
    WRAPPED_KEY_BYTES,
    KeyUnwrapError,
    derive_master_key,
    unwrap_content_key,
    wrap_content_key,
)

MASTER = "local-only-drm-master"


def test_wrapped_key_unwraps_to_the_content_key() -> None:
    video_id = uuid4()
    content_key = os.urandom(16)

    wrapped = wrap_content_key(content_key, video_id=video_id, master_key=MASTER)

    assert len(wrapped) == WRAPPED_KEY_BYTES
    assert content_key not in wrapped
    assert unwrap_content_key(wrapped, video_id=video_id, master_key=MASTER) == content_key


def test_wrapping_twice_gives_different_bytes() -> None:
    video_id, content_key = uuid4(), os.urandom(16)

    first = wrap_content_key(content_key, video_id=video_id, master_key=MASTER)
    second = wrap_content_key(content_key, video_id=video_id, master_key=MASTER)

    assert first != second


def test_wrong_master_key_fails() -> None:
    video_id = uuid4()
    wrapped = wrap_content_key(os.urandom(16), video_id=video_id, master_key=MASTER)

    with pytest.raises(KeyUnwrapError):
        unwrap_content_key(wrapped, video_id=video_id, master_key=MASTER + "x")


def test_key_moved_to_another_video_fails() -> None:
    wrapped = wrap_content_key(os.urandom(16), video_id=uuid4(), master_key=MASTER)

    with pytest.raises(KeyUnwrapError):
        unwrap_content_key(wrapped, video_id=uuid4(), master_key=MASTER)


@pytest.mark.parametrize("position", [0, 1, 20, WRAPPED_KEY_BYTES - 1])
def test_tampered_bytes_fail(position: int) -> None:
    video_id = uuid4()
    wrapped = bytearray(wrap_content_key(os.urandom(16), video_id=video_id, master_key=MASTER))
    wrapped[position] ^= 0x01

    with pytest.raises(KeyUnwrapError):
        unwrap_content_key(bytes(wrapped), video_id=video_id, master_key=MASTER)


def test_truncated_bytes_fail() -> None:
    video_id = uuid4()
    wrapped = wrap_content_key(os.urandom(16), video_id=video_id, master_key=MASTER)

    with pytest.raises(KeyUnwrapError):
        unwrap_content_key(wrapped[:-1], video_id=video_id, master_key=MASTER)


def test_master_key_of_any_length_derives_an_aes_256_key() -> None:
    short, long = derive_master_key("k"), derive_master_key("k" * 1000)

    assert len(short) == len(long) == 32
    assert short != long
    assert derive_master_key("k") == short


def test_empty_master_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        wrap_content_key(os.urandom(16), video_id=uuid4(), master_key="")


@pytest.mark.parametrize("size", [0, 15, 17, 32])
def test_content_key_must_be_16_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        wrap_content_key(os.urandom(size), video_id=uuid4(), master_key=MASTER)
