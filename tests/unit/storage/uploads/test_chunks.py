"""The `Content-Range` of a chunk sent to the API."""

from __future__ import annotations

import pytest

from storage.uploads import ContentRange, InvalidChunk, parse_content_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes 0-99/100", ContentRange(0, 99, 100)),
        ("bytes 100-199/1000", ContentRange(100, 199, 1000)),
        ("bytes 5-5/6", ContentRange(5, 5, 6)),
        ("  bytes 0-0/1 ", ContentRange(0, 0, 1)),
        ("bytes 0-999999999999998/999999999999999", ContentRange(0, 10**15 - 2, 10**15 - 1)),
    ],
)
def test_byte_ranges_of_the_file_are_parsed(header: str, expected: ContentRange) -> None:
    span = parse_content_range(header)

    assert span == expected
    assert span.length == expected.last - expected.first + 1


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes 0-99/*",
        "bytes */100",
        "bytes=0-99/100",
        "bits 0-99/100",
        "bytes 0-99",
        "bytes -5-99/100",
        "bytes 0-99/100, 100-199/200",
        "bytes 10-9/100",
        "bytes 0-100/100",
        "bytes 0-0/0",
        "bytes 0-1/10000000000000000",
    ],
)
def test_anything_else_is_an_invalid_chunk(header: str | None) -> None:
    with pytest.raises(InvalidChunk) as refused:
        parse_content_range(header)

    assert refused.value.code == "invalid_content_range"
    assert refused.value.offset is None and refused.value.length is None
