"""Names every store agrees on: keys, prefixes, content types, publish versions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.objects import (
    VERSION_RE,
    InvalidKey,
    folder_of,
    guess_content_type,
    new_version,
    validate_key,
)


@pytest.mark.parametrize(
    "key",
    ["a", "videos/42/hls/master.m3u8", "a/b.c/d-e_f", "spaces are fine", "ünïcode/ключ", "..a/b.."],
)
def test_valid_keys_pass_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/leading",
        "trailing/",
        "double//slash",
        "..",
        "a/../b",
        "a/..",
        "./a",
        "a/./b",
        "back\\slash",
        "new\nline",
        "nul\x00",
        ".reelflow-tmp-123",
        "a/.reelflow-type.b",
        "x" * 1025,
    ],
)
def test_invalid_keys_raise(key: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_invalid_key_is_a_value_error_naming_the_key() -> None:
    with pytest.raises(ValueError, match="'a/../b'"):
        validate_key("a/../b")


@pytest.mark.parametrize(
    ("prefix", "folder"), [("", ""), ("a", "a/"), ("a/", "a/"), ("a/b", "a/b/"), ("a/b/", "a/b/")]
)
def test_prefixes_name_folders(prefix: str, folder: str) -> None:
    assert folder_of(prefix) == folder


@pytest.mark.parametrize("prefix", ["/", "a//", "../a", "/a"])
def test_invalid_prefixes_raise(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        folder_of(prefix)


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("x/master.m3u8", "application/vnd.apple.mpegurl"),
        ("x/manifest.mpd", "application/dash+xml"),
        ("x/seg.m4s", "video/iso.segment"),
        ("x/init.mp4", "video/mp4"),
        ("x/sprites.vtt", "text/vtt"),
        ("x/POSTER.JPG", "image/jpeg"),
        ("x/seg.ts", "video/mp2t"),
        ("x/no-extension", "application/octet-stream"),
    ],
)
def test_content_types_follow_the_extension(key: str, content_type: str) -> None:
    assert guess_content_type(key) == content_type


def test_versions_sort_by_time_and_differ_within_one_instant() -> None:
    earlier = new_version(datetime(2026, 11, 27, 8, 30, 0, 5, tzinfo=UTC))
    later = new_version(datetime(2026, 11, 27, 8, 30, 0, 6, tzinfo=UTC))

    assert earlier.startswith("20261127T083000.000005Z-")
    assert VERSION_RE.fullmatch(earlier) and VERSION_RE.fullmatch(later)
    assert earlier < later
    assert new_version() != new_version()
