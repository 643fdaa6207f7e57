"""The rules of opening an upload that need no store: accepted types, part sizes, source keys."""

from __future__ import annotations

from uuid import UUID

import pytest

from storage.objects import MAX_PARTS, MIN_PART_BYTES, validate_key
from storage.uploads import SOURCE_PREFIX, content_type_accepted, part_size, source_key


@pytest.mark.parametrize(
    "content_type",
    [
        "video/mp4",
        "Video/QuickTime",
        "video/x-matroska; codecs=avc1",
        "application/octet-stream",
        "application/mp4",
        " application/x-matroska ",
        "application/mxf",
    ],
)
def test_video_types_are_accepted(content_type: str) -> None:
    assert content_type_accepted(content_type)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "image/png", "audio/mpeg", "application/json", "videos/mp4"]
)
def test_other_types_are_not(content_type: str) -> None:
    assert not content_type_accepted(content_type)


@pytest.mark.parametrize(
    ("size", "chunk", "expected"),
    [
        (1, 1024, MIN_PART_BYTES),
        (100 * 1024**2, 64 * 1024**2, 64 * 1024**2),
        (MAX_PARTS * MIN_PART_BYTES * 2, 1024, 2 * MIN_PART_BYTES),
        (MAX_PARTS * MIN_PART_BYTES * 2 + 1, 1024, 2 * MIN_PART_BYTES + 1),
    ],
)
def test_parts_are_at_least_five_mebibytes_a_chunk_and_at_most_ten_thousand(
    size: int, chunk: int, expected: int
) -> None:
    assert part_size(size, chunk) == expected
    assert -(-size // expected) <= MAX_PARTS


def test_each_upload_gets_a_fresh_key_under_its_video() -> None:
    video_id = UUID(int=42)

    first, second = source_key(video_id), source_key(video_id)

    assert first != second
    for key in (first, second):
        assert key.startswith(f"{SOURCE_PREFIX}{video_id}/source-")
        assert validate_key(key) == key
