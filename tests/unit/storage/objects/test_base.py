"""What every store shares without a store: the byte stream of a ranged read."""

from __future__ import annotations

import pytest

from storage.objects import ObjectStream


class Source:
    """Chunks to stream, and whether the stream released them."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_iterating_to_the_end_closes_the_stream_once() -> None:
    source = Source(b"ab", b"cd")
    stream = ObjectStream(source.chunks, source.close)

    assert list(stream) == [b"ab", b"cd"]
    stream.close()

    assert source.closed == 1


def test_read_joins_every_chunk() -> None:
    source = Source(b"ab", b"", b"cd")

    with ObjectStream(source.chunks, source.close) as stream:
        assert stream.read() == b"abcd"

    assert source.closed == 1


def test_leaving_the_block_early_closes_the_stream() -> None:
    source = Source(b"ab", b"cd")

    with pytest.raises(RuntimeError), ObjectStream(source.chunks, source.close) as stream:
        next(iter(stream))
        raise RuntimeError("the reader gave up")

    assert source.closed == 1
