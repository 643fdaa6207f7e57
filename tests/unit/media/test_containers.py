"""Container sniffing from a file's first bytes."""

import pytest

from media.containers import sniff_container


@pytest.mark.parametrize(
    ("head", "container"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "iso-bmff"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", None),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", None),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "matroska/webm"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        ((b"\x47" + b"\x00" * 187) * 3, "mpeg-ts"),
        ((b"\x00\x00\x00\x00\x47" + b"\x00" * 187) * 3, "mpeg-ts"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None),
        (b"\x89PNG\r\n\x1a\n", None),
        (b"GIF89a", None),
        (b"hello, world\n" * 20, None),
        (b"", None),
    ],
)
def test_sniff_container(head: bytes, container: str | None) -> None:
    assert sniff_container(head) == container
