"""Multipart uploads through the ObjectStore interface, on the local directory and on S3Proxy."""

from __future__ import annotations

import hashlib
import os

import pytest

from storage.objects import (
    MIN_PART_BYTES,
    InvalidKey,
    InvalidParts,
    MultipartError,
    MultipartNotFound,
    ObjectStore,
    Part,
)

KEY = "uploads/1/source"


def _parts(data: bytes, size: int = MIN_PART_BYTES) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def _upload(store: ObjectStore, upload_id: str, pieces: list[bytes]) -> list[Part]:
    return [
        Part(number, store.upload_part(KEY, upload_id, number, piece))
        for number, piece in enumerate(pieces, start=1)
    ]


def test_a_multipart_upload_assembles_its_parts_into_the_object(object_store: ObjectStore) -> None:
    data = os.urandom(2 * MIN_PART_BYTES + 1234)
    upload_id = object_store.start_multipart(KEY)
    assert object_store.list_multipart("uploads")[0].upload_id == upload_id
    assert not object_store.exists(KEY), "nothing is stored before completion"

    parts = _upload(object_store, upload_id, _parts(data))
    assert parts[0].etag == f'"{hashlib.md5(data[:MIN_PART_BYTES]).hexdigest()}"'
    object_store.complete_multipart(KEY, upload_id, parts)

    assert object_store.get_bytes(KEY) == data
    assert object_store.size(KEY) == len(data)
    assert object_store.content_type(KEY) == "application/octet-stream"
    assert object_store.list_multipart("") == []
    assert object_store.list("") == [KEY]


def test_a_part_uploaded_again_replaces_the_earlier_one(object_store: ObjectStore) -> None:
    upload_id = object_store.start_multipart(KEY, "video/mp4")
    first = object_store.upload_part(KEY, upload_id, 1, b"first try")
    second = object_store.upload_part(KEY, upload_id, 1, b"second try")
    assert first != second

    with pytest.raises(InvalidParts):
        object_store.complete_multipart(KEY, upload_id, [Part(1, first)])
    object_store.complete_multipart(KEY, upload_id, [Part(1, second)])

    assert object_store.get_bytes(KEY) == b"second try"
    assert object_store.content_type(KEY) == "video/mp4"


def test_wrong_or_missing_parts_are_refused_and_the_upload_stays_open(
    object_store: ObjectStore,
) -> None:
    upload_id = object_store.start_multipart(KEY)
    [first, last] = _upload(object_store, upload_id, [os.urandom(MIN_PART_BYTES), b"tail"])

    refusals = {
        "wrong ETag": [first, Part(2, '"00000000000000000000000000000000"')],
        "missing part": [first, last, Part(3, last.etag)],
    }
    for listed in refusals.values():
        with pytest.raises(InvalidParts):
            object_store.complete_multipart(KEY, upload_id, listed)
    assert not object_store.exists(KEY)
    assert [m.upload_id for m in object_store.list_multipart("uploads")] == [upload_id]

    # ETags are compared without their quotes, as S3 does.
    object_store.complete_multipart(KEY, upload_id, [first, Part(2, last.etag.strip('"'))])
    assert object_store.size(KEY) == MIN_PART_BYTES + 4


def test_parts_but_the_last_hold_at_least_five_mebibytes(object_store: ObjectStore) -> None:
    upload_id = object_store.start_multipart(KEY)
    parts = _upload(object_store, upload_id, [b"small", b"tail"])

    with pytest.raises(InvalidParts) as refused:
        object_store.complete_multipart(KEY, upload_id, parts)

    assert refused.value.code == "EntityTooSmall"
    assert not object_store.exists(KEY)


def test_abort_discards_the_upload_and_is_idempotent(object_store: ObjectStore) -> None:
    upload_id = object_store.start_multipart(KEY)
    parts = _upload(object_store, upload_id, [b"bytes"])

    assert object_store.abort_multipart(KEY, upload_id) is True
    assert object_store.abort_multipart(KEY, upload_id) is False

    assert object_store.list_multipart("") == []
    with pytest.raises(MultipartError):
        object_store.complete_multipart(KEY, upload_id, parts)
    assert not object_store.exists(KEY)
    assert object_store.list("") == []


def test_an_unknown_upload_id_is_not_open(object_store: ObjectStore) -> None:
    other = object_store.start_multipart("uploads/2/source")

    assert object_store.abort_multipart(KEY, "f" * 32) is False
    with pytest.raises(MultipartError):
        object_store.complete_multipart(KEY, "f" * 32, [Part(1, '"x"')])
    assert [m.upload_id for m in object_store.list_multipart("")] == [other]


def test_list_multipart_names_open_uploads_under_a_folder(object_store: ObjectStore) -> None:
    keys = ["uploads/a/source", "uploads/b/source", "uploads/b/source", "uploadsx/c", "other/d"]
    started = [(key, object_store.start_multipart(key)) for key in keys]
    done_key, done_id = started[0]
    object_store.complete_multipart(
        done_key, done_id, [Part(1, object_store.upload_part(done_key, done_id, 1, b"x"))]
    )

    listed = object_store.list_multipart("uploads")

    assert [m.key for m in listed] == ["uploads/b/source", "uploads/b/source"]
    assert {m.upload_id for m in listed} == {started[1][1], started[2][1]}
    assert all(m.initiated.tzinfo is not None for m in listed)
    # S3Proxy reports a slightly different start time on each listing: compare the uploads.
    assert [(m.key, m.upload_id) for m in object_store.list_multipart("uploads/")] == [
        (m.key, m.upload_id) for m in listed
    ]
    assert len(object_store.list_multipart("")) == 4
    assert object_store.list_multipart("nothing") == []
    # (S3Proxy keeps open uploads as `.mpus-*` objects at the top: list under the folder.)
    assert object_store.list("uploads") == ["uploads/a/source"], "open uploads are no objects"


def test_part_numbers_and_keys_are_checked(object_store: ObjectStore) -> None:
    upload_id = object_store.start_multipart(KEY)

    for number in (0, 10_001):
        with pytest.raises(ValueError):
            object_store.upload_part(KEY, upload_id, number, b"x")
        with pytest.raises(ValueError):
            object_store.part_url(KEY, upload_id, number, 60)
    with pytest.raises(ValueError):
        object_store.part_url(KEY, upload_id, 1, 0)
    for operation in (object_store.start_multipart, object_store.list_multipart):
        with pytest.raises(InvalidKey):
            operation("a//b")
    with pytest.raises(InvalidKey):
        object_store.abort_multipart("../x", upload_id)


def test_upload_part_to_an_aborted_upload_is_refused_where_the_store_says_so(
    object_store: ObjectStore,
) -> None:
    upload_id = object_store.start_multipart(KEY)
    object_store.abort_multipart(KEY, upload_id)

    # S3 refuses with NoSuchUpload; S3Proxy's filesystem backend keeps the bytes aside as a
    # `.mpus-*` object. Either way nothing revives the upload or reaches the key.
    try:
        object_store.upload_part(KEY, upload_id, 1, b"late")
    except MultipartNotFound as refused:
        assert (refused.key, refused.upload_id) == (KEY, upload_id)
    assert object_store.list_multipart("") == []
    assert object_store.list("uploads") == []
