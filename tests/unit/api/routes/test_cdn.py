"""The CDN origin's pure rules: the `Range` header it honours and how long caches keep objects."""

from __future__ import annotations

import pytest

from api.routes.cdn import (
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
    ("key", "grant_left_s", "shared", "policy"),
    [
        (f"videos/1/{VERSION}/stream/r720/seg_00001.m4s", 21600, True,
         "public, max-age=21600, immutable"),
        (f"videos/1/{VERSION}/thumbs/poster.jpg", 10**9, True,
         "public, max-age=31536000, immutable"),
        (f"videos/1/{VERSION}/stream/master.m3u8", 21600, True, "public, max-age=60"),
        (f"videos/1/{VERSION}/stream/manifest.MPD", 30, True, "public, max-age=30"),
        # Not public: the viewer's browser only.
        (f"videos/1/{VERSION}/stream/r720/seg_00001.m4s", 600, False,
         "private, max-age=600, immutable"),
        (f"videos/1/{VERSION}/stream/master.m3u8", 600, False, "private, max-age=60"),
        (f"videos/1/{VERSION}/stream/master.m3u8", -5, False, "private, max-age=0"),
        ("videos/1/CURRENT", 600, True, "no-cache"),
        ("videos/1/not-a-version/stream/seg.m4s", 600, True, "no-cache"),
        (f"uploads/1/{VERSION}/source", 600, True, "no-cache"),
        (f"videos/1/{VERSION}", 600, True, "no-cache"),
    ],
)  # fmt: skip
def test_answers_are_kept_no_longer_than_their_grant_and_privately_when_not_public(
    key: str, grant_left_s: int, shared: bool, policy: str
) -> None:
    assert cache_control(key, grant_left_s, shared) == policy
