"""The CDN origin's pure rules: the `Range` header it honours and how long caches keep objects."""

from __future__ import annotations

import pytest

from api.routes.cdn import (
    IMMUTABLE,
    MANIFEST_CACHE,
    UNVERSIONED_CACHE,
    ByteRange,
    RangeNotSatisfiable,
    cache_control,
    parse_range,
)

VERSION = "20261127T083000.000005Z-abcdef"


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, ByteRange(0, 99)),
        ("bytes=100-", 1000, ByteRange(100, 999)),
        ("bytes=900-5000", 1000, ByteRange(900, 999)),
        ("bytes=999-999", 1000, ByteRange(999, 999)),
        ("bytes=-10", 1000, ByteRange(990, 999)),
        ("bytes=-5000", 1000, ByteRange(0, 999)),
        (" bytes=0-0 ", 1, ByteRange(0, 0)),
        # Positions of thousands of digits: past every end, never converted whole.
        ("bytes=0-" + "9" * 5000, 1000, ByteRange(0, 999)),
        ("bytes=-" + "9" * 5000, 1000, ByteRange(0, 999)),
        ("bytes=" + "0" * 5000 + "7-8", 1000, ByteRange(7, 8)),
    ],
)
def test_single_ranges_are_clipped_to_the_object(
    header: str, size: int, expected: ByteRange
) -> None:
    wanted = parse_range(header, size)

    assert wanted == expected
    assert wanted is not None and wanted.length == expected.last - expected.first + 1


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=", "bytes=-", "bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=a-b"],
)
def test_malformed_or_multiple_ranges_mean_the_whole_object(header: str | None) -> None:
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", 1000),
        ("bytes=5000-6000", 1000),
        ("bytes=-0", 1000),
        ("bytes=-10", 0),
        ("bytes=0-", 0),
        ("bytes=" + "9" * 5000 + "-", 1000),
    ],
)
def test_ranges_past_the_end_are_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


@pytest.mark.parametrize(
    ("key", "policy"),
    [
        (f"videos/1/{VERSION}/stream/r720/seg_00001.m4s", IMMUTABLE),
        (f"videos/1/{VERSION}/thumbs/poster.jpg", IMMUTABLE),
        (f"videos/1/{VERSION}/stream/master.m3u8", MANIFEST_CACHE),
        (f"videos/1/{VERSION}/stream/manifest.MPD", MANIFEST_CACHE),
        ("videos/1/CURRENT", UNVERSIONED_CACHE),
        ("videos/1/not-a-version/stream/seg.m4s", UNVERSIONED_CACHE),
        (f"uploads/1/{VERSION}/source", UNVERSIONED_CACHE),
        (f"videos/1/{VERSION}", UNVERSIONED_CACHE),
    ],
)
def test_only_objects_under_a_version_are_kept_for_good(key: str, policy: str) -> None:
    assert cache_control(key) == policy
