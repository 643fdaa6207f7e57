"""Uploads through the API, at the storage level: chunks gathered in a locked partial file that
moves into the store once whole, on a real catalog and the local store."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import pytest

from storage.catalog import Catalog, UploadStatus
from storage.objects import LocalObjectStore
from storage.uploads import (
    InvalidChunk,
    LargerThanDeclared,
    UploadConflict,
    UploadError,
    UploadNotFound,
    UploadTooLarge,
    finish_assembled,
    partial_file,
    receive_chunk,
    upload_offset,
)
from tests.fixtures.objects import LOCAL_BASE_URL, LOCAL_SIGNING_SECRET
from tests.fixtures.uploads import CHUNK, new_upload

SIZE = 3 * CHUNK + 100
DATA = bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", LOCAL_BASE_URL, LOCAL_SIGNING_SECRET)


@pytest.fixture
def partials(tmp_path: Path) -> Path:
    return tmp_path / "partial"


def _send(
    catalog: Catalog, store: LocalObjectStore, partials: Path, upload_id: UUID, first: int
) -> int:
    """Send the chunk starting at `first`; the offset after it."""
    last = min(first + CHUNK, SIZE) - 1
    header = f"bytes {first}-{last}/{SIZE}"
    with receive_chunk(catalog, store, partials, upload_id, header, max_bytes=CHUNK) as chunk:
        chunk.write(DATA[first : last + 1])
        return chunk.finish().offset


def test_chunks_in_order_assemble_the_source_in_the_store(
    catalog: Catalog, store: LocalObjectStore, partials: Path
) -> None:
    upload = new_upload(catalog, store, SIZE).upload
    assert upload_offset(catalog, store, partials, upload.id).offset == 0

    offset = 0
    while offset < SIZE:
        assert not store.exists(upload.object_key), "the store never holds half a source"
        offset = _send(catalog, store, partials, upload.id, offset)
        progress = upload_offset(catalog, store, partials, upload.id)
        assert progress.offset == offset and progress.complete == (offset == SIZE)

    assert store.get_bytes(upload.object_key) == DATA
    assert not partial_file(partials, upload.id).exists()
    assert catalog.get_upload(upload.id).received_bytes == SIZE
    with pytest.raises(UploadConflict) as finished:
        _send(catalog, store, partials, upload.id, 0)
    assert (finished.value.code, finished.value.offset) == ("upload_finished", SIZE)


def test_a_torn_chunk_leaves_nothing_behind(
    catalog: Catalog, store: LocalObjectStore, partials: Path
) -> None:
    upload = new_upload(catalog, store, SIZE).upload
    _send(catalog, store, partials, upload.id, 0)

    header = f"bytes {CHUNK}-{2 * CHUNK - 1}/{SIZE}"
    with receive_chunk(catalog, store, partials, upload.id, header, max_bytes=CHUNK) as chunk:
        chunk.write(DATA[CHUNK : CHUNK + 100])
        assert chunk.remaining == CHUNK - 100
        # The connection drops here: the chunk is closed without finishing.

    assert partial_file(partials, upload.id).stat().st_size == CHUNK
    assert upload_offset(catalog, store, partials, upload.id).offset == CHUNK
    assert _send(catalog, store, partials, upload.id, CHUNK) == 2 * CHUNK


def test_a_body_of_another_length_is_refused_and_cut_off(
    catalog: Catalog, store: LocalObjectStore, partials: Path
) -> None:
    upload = new_upload(catalog, store, SIZE).upload
    header = f"bytes 0-{CHUNK - 1}/{SIZE}"

    with receive_chunk(catalog, store, partials, upload.id, header, max_bytes=CHUNK) as chunk:
        with pytest.raises(InvalidChunk) as longer:
            chunk.write(DATA[: CHUNK + 1])
    with receive_chunk(catalog, store, partials, upload.id, header, max_bytes=CHUNK) as chunk:
        chunk.write(DATA[:10])
        with pytest.raises(InvalidChunk) as shorter:
            chunk.finish()

    for refused in (longer.value, shorter.value):
        assert refused.code == "chunk_length_mismatch"
        assert (refused.offset, refused.length) == (0, SIZE)
    assert partial_file(partials, upload.id).stat().st_size == 0
    assert catalog.get_upload(upload.id).received_bytes == 0


def test_a_second_chunk_while_one_arrives_is_busy(
    catalog: Catalog, store: LocalObjectStore, partials: Path
) -> None:
    upload = new_upload(catalog, store, SIZE).upload
    header = f"bytes 0-{CHUNK - 1}/{SIZE}"

    with receive_chunk(catalog, store, partials, upload.id, header, max_bytes=CHUNK) as chunk:
        with pytest.raises(UploadConflict) as busy:
            receive_chunk(catalog, store, partials, upload.id, header, max_bytes=CHUNK)
        chunk.write(DATA[:CHUNK])
        chunk.finish()

    assert busy.value.code == "upload_busy"
    assert upload_offset(catalog, store, partials, upload.id).offset == CHUNK


def test_a_chunk_must_start_at_the_recorded_offset(
    catalog: Catalog, store: LocalObjectStore, partials: Path
) -> None:
    upload = new_upload(catalog, store, SIZE).upload
    _send(catalog, store, partials, upload.id, 0)
    # What a crash after writing but before recording leaves: bytes past the recorded offset.
    with partial_file(partials, upload.id).open("ab") as partial:
        partial.write(b"unrecorded tail")
    assert upload_offset(catalog, store, partials, upload.id).offset == CHUNK

    for wrong in (0, CHUNK + 15):
        with pytest.raises(UploadConflict) as refused:
            _send(catalog, store, partials, upload.id, wrong)
        assert (refused.value.code, refused.value.offset) == ("offset_mismatch", CHUNK)

    assert _send(catalog, store, partials, upload.id, CHUNK) == 2 * CHUNK
    assert partial_file(partials, upload.id).read_bytes() == DATA[: 2 * CHUNK]


@pytest.mark.parametrize(
    ("header", "refusal", "code"),
    [
        (None, InvalidChunk, "invalid_content_range"),
        (f"bytes 0-99/{SIZE + 1}", LargerThanDeclared, "size_mismatch"),
        (f"bytes 0-99/{SIZE - 1}", UploadConflict, "size_mismatch"),
        (f"bytes 0-{CHUNK}/{SIZE}", UploadTooLarge, "chunk_too_large"),
    ],
)
def test_chunks_that_do_not_fit_the_upload_are_refused(
    catalog: Catalog,
    store: LocalObjectStore,
    partials: Path,
    header: str | None,
    refusal: type[UploadError],
    code: str,
) -> None:
    upload = new_upload(catalog, store, SIZE).upload

    with pytest.raises(refusal) as refused:
        receive_chunk(catalog, store, partials, upload.id, header, max_bytes=CHUNK)

    assert refused.value.code == code
    assert not partial_file(partials, upload.id).exists()


def test_unknown_and_closed_uploads_take_no_chunks(
    catalog: Catalog, store: LocalObjectStore, partials: Path
) -> None:
    header = f"bytes 0-{CHUNK - 1}/{SIZE}"
    with pytest.raises(UploadNotFound):
        receive_chunk(catalog, store, partials, uuid4(), header, max_bytes=CHUNK)

    upload = new_upload(catalog, store, SIZE).upload
    catalog.abort_upload(upload.id)
    with pytest.raises(UploadConflict) as closed:
        upload_offset(catalog, store, partials, upload.id)
    assert closed.value.code == "upload_closed"


def test_a_whole_file_left_by_a_crash_is_moved_into_the_store(
    catalog: Catalog, store: LocalObjectStore, partials: Path
) -> None:
    upload = new_upload(catalog, store, SIZE).upload
    # Every byte recorded, but the process stopped before moving the file.
    partials.mkdir()
    partial_file(partials, upload.id).write_bytes(DATA)
    recorded = catalog.record_received(upload.id, SIZE)
    assert recorded.status == UploadStatus.RECEIVING

    finish_assembled(store, partials, recorded)

    assert store.get_bytes(upload.object_key) == DATA
    assert not partial_file(partials, upload.id).exists()
    assert upload_offset(catalog, store, partials, upload.id).offset == SIZE
