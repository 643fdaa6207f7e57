"""Opening, completing and discarding uploads on a real catalog, on both stores."""

from __future__ import annotations

import math
import secrets
from pathlib import Path

import pytest

from storage.catalog import Catalog, EncodingStatus, Upload, UploadStatus
from storage.objects import MIN_PART_BYTES, ObjectStore, Part
from storage.uploads import (
    SOURCE_PREFIX,
    InvalidPartList,
    NewVideo,
    NotAVideo,
    UploadConflict,
    UploadError,
    UploadTooLarge,
    complete_upload,
    discard_uploads,
    open_upload,
    part_size,
    partial_file,
)
from tests.fixtures.uploads import CHUNK, MAX_UPLOAD_BYTES, listed_upload, new_upload, small_clip


def _send_parts(store: ObjectStore, upload: Upload, data: bytes) -> list[Part]:
    assert upload.s3_upload_id is not None
    pieces = [data[start : start + MIN_PART_BYTES] for start in range(0, len(data), MIN_PART_BYTES)]
    return [
        Part(number, store.upload_part(upload.object_key, upload.s3_upload_id, number, piece))
        for number, piece in enumerate(pieces, start=1)
    ]


def test_the_store_decides_how_the_bytes_travel(
    catalog: Catalog, object_store: ObjectStore
) -> None:
    size = 3 * MIN_PART_BYTES + 1
    ticket = new_upload(catalog, object_store, size)
    upload = ticket.upload
    video = catalog.get_video(upload.video_id)

    assert video.encoding_status == EncodingStatus.UPLOADING
    assert upload.object_key.startswith(f"{SOURCE_PREFIX}{video.id}/")
    assert ticket.direct == object_store.presigned_puts
    if ticket.direct:
        assert ticket.chunk_size == part_size(size, CHUNK)
        assert len(ticket.part_urls) == math.ceil(size / ticket.chunk_size)
        [multipart] = object_store.list_multipart(SOURCE_PREFIX)
        assert (multipart.key, multipart.upload_id) == (upload.object_key, upload.s3_upload_id)
    else:
        assert (ticket.chunk_size, ticket.part_urls, upload.s3_upload_id) == (CHUNK, (), None)
        assert object_store.list_multipart("") == []


@pytest.mark.parametrize(
    ("size", "content_type", "refusal"),
    [(MAX_UPLOAD_BYTES + 1, "video/mp4", UploadTooLarge), (10, "text/plain", NotAVideo)],
)
def test_declared_files_that_cannot_be_videos_open_nothing(
    catalog: Catalog,
    object_store: ObjectStore,
    size: int,
    content_type: str,
    refusal: type[Exception],
) -> None:
    user = catalog.create_user(f"{secrets.token_hex(4)}@example.com", "argon2-hash")
    new = NewVideo(user.id, "Nope", size, content_type)

    with pytest.raises(refusal):
        open_upload(catalog, object_store, new, max_bytes=MAX_UPLOAD_BYTES, chunk_size=CHUNK)

    assert catalog.list_videos_by_user(user.id) == []
    assert object_store.list_multipart("") == []


def test_a_multipart_upload_completes_from_its_listed_parts(
    catalog: Catalog, object_store: ObjectStore, tmp_path: Path
) -> None:
    clip = small_clip(tmp_path)
    data = clip + secrets.token_bytes(MIN_PART_BYTES + 10 - len(clip))
    upload = listed_upload(catalog, store=object_store, size=len(data))
    parts = _send_parts(object_store, upload, data)

    for listed, code in (([], "parts_required"), ([parts[0], parts[0]], "invalid_parts")):
        with pytest.raises(InvalidPartList) as refused:
            complete_upload(catalog, object_store, tmp_path, upload.video_id, listed)
        assert refused.value.code == code
    with pytest.raises(UploadConflict) as wrong:
        complete_upload(
            catalog, object_store, tmp_path, upload.video_id, [parts[0], Part(2, '"0"')]
        )
    assert wrong.value.code == "invalid_parts"

    completed = complete_upload(
        catalog, object_store, tmp_path, upload.video_id, list(reversed(parts))
    )

    assert completed.container == "iso-bmff"
    assert completed.upload.status == UploadStatus.COMPLETED
    assert completed.upload.received_bytes == len(data)
    assert object_store.get_bytes(upload.object_key) == data
    assert object_store.list_multipart("") == []


def test_a_retry_after_a_lost_answer_finds_the_parts_assembled(
    catalog: Catalog, object_store: ObjectStore, tmp_path: Path
) -> None:
    clip = small_clip(tmp_path)
    upload = listed_upload(catalog, store=object_store, size=len(clip))
    assert upload.s3_upload_id is not None
    parts = _send_parts(object_store, upload, clip)
    object_store.complete_multipart(upload.object_key, upload.s3_upload_id, parts)

    completed = complete_upload(catalog, object_store, tmp_path, upload.video_id)

    assert completed.upload.status == UploadStatus.COMPLETED


@pytest.mark.parametrize(
    ("text", "extra", "refusal", "code"),
    [
        (True, 0, NotAVideo, "unsupported_media_type"),
        (False, 1, UploadConflict, "size_mismatch"),
    ],
    ids=["not a video", "another size"],
)
def test_a_file_that_is_not_the_declared_video_is_deleted_on_completion(
    catalog: Catalog,
    object_store: ObjectStore,
    tmp_path: Path,
    text: bool,
    extra: int,
    refusal: type[UploadError],
    code: str,
) -> None:
    data = b"only words, no video\n" * 100 if text else small_clip(tmp_path)
    upload = listed_upload(catalog, store=object_store, size=len(data) + extra)
    parts = _send_parts(object_store, upload, data)

    with pytest.raises(refusal) as refused:
        complete_upload(catalog, object_store, tmp_path, upload.video_id, parts)

    assert refused.value.code == code
    assert catalog.get_upload(upload.id).status == UploadStatus.ABORTED
    assert not object_store.exists(upload.object_key)
    assert catalog.get_video(upload.video_id).encoding_status == EncodingStatus.PENDING


def test_completing_before_every_chunk_arrived_tells_the_offset(
    catalog: Catalog, object_store: ObjectStore, tmp_path: Path
) -> None:
    upload = listed_upload(catalog, 1000)
    catalog.record_received(upload.id, 100)

    with pytest.raises(UploadConflict) as refused:
        complete_upload(catalog, object_store, tmp_path, upload.video_id)

    assert (refused.value.code, refused.value.offset) == ("upload_incomplete", 100)
    assert catalog.get_upload(upload.id).status == UploadStatus.RECEIVING


def test_a_video_without_an_open_upload_has_nothing_to_complete(
    catalog: Catalog, object_store: ObjectStore, tmp_path: Path
) -> None:
    user = catalog.create_user(f"{secrets.token_hex(4)}@example.com", "argon2-hash")
    video = catalog.create_video(user.id, "Nothing yet")
    with pytest.raises(UploadConflict) as none:
        complete_upload(catalog, object_store, tmp_path, video.id)
    assert none.value.code == "no_upload"

    upload = listed_upload(catalog, store=object_store, size=100)
    catalog.abort_upload(upload.id)
    with pytest.raises(UploadConflict) as closed:
        complete_upload(catalog, object_store, tmp_path, upload.video_id)
    assert closed.value.code == "upload_closed"


def test_discarding_a_deleted_videos_uploads_leaves_nothing(
    catalog: Catalog, object_store: ObjectStore, tmp_path: Path
) -> None:
    multipart = listed_upload(catalog, store=object_store, size=100)
    video_id = multipart.video_id
    older_key = f"{SOURCE_PREFIX}{video_id}/source-old"
    object_store.put_bytes(older_key, b"an older source")
    partial = partial_file(tmp_path, multipart.id)
    partial.write_bytes(b"received")
    other = listed_upload(catalog, store=object_store, size=100)

    _, uploads = catalog.delete_video(video_id)
    discard_uploads(object_store, tmp_path, video_id, uploads)

    assert not partial.exists()
    assert object_store.list(f"{SOURCE_PREFIX}{video_id}") == []
    assert [m.upload_id for m in object_store.list_multipart(SOURCE_PREFIX)] == [other.s3_upload_id]
