"""What only the local store does: presigned URLs it signs for the API to check, multipart parts
kept in its reserved folder, and moving a file in with a rename."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from storage.objects import (
    InvalidKey,
    InvalidParts,
    LocalObjectStore,
    Part,
    verify_local_signature,
)
from tests.fixtures.objects import LOCAL_BASE_URL, LOCAL_SIGNING_SECRET


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", LOCAL_BASE_URL, LOCAL_SIGNING_SECRET)


def _url_parts(store: LocalObjectStore, url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    base_path = urlsplit(store.base_url).path
    assert parts.path.startswith(base_path + "/")
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return unquote(parts.path[len(base_path) + 1 :]), query


def test_presigned_get_grants_exactly_that_object(store: LocalObjectStore) -> None:
    url = store.presign("videos/3/poster.jpg", 60)

    key, query = _url_parts(store, url)
    assert key == "videos/3/poster.jpg" and query["method"] == "GET"
    expires, signature = query["expires"], query["signature"]
    assert verify_local_signature(LOCAL_SIGNING_SECRET, key, expires, "GET", signature)
    tampered = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert not verify_local_signature(LOCAL_SIGNING_SECRET, key, expires, "GET", tampered)
    assert not verify_local_signature(
        LOCAL_SIGNING_SECRET, "videos/4/poster.jpg", expires, "GET", signature
    )
    assert not verify_local_signature(LOCAL_SIGNING_SECRET, key, expires, "PUT", signature)
    assert not verify_local_signature(
        LOCAL_SIGNING_SECRET, key, expires, "GET", signature, now=int(expires) + 1
    )


def test_presigned_put_is_signed_for_put_only(store: LocalObjectStore) -> None:
    url = store.presign("uploads/5/source.mp4", 60, method="PUT")

    key, query = _url_parts(store, url)
    assert query["method"] == "PUT"
    assert verify_local_signature(
        LOCAL_SIGNING_SECRET, key, query["expires"], "PUT", query["signature"]
    )
    assert not verify_local_signature(
        LOCAL_SIGNING_SECRET, key, query["expires"], "GET", query["signature"]
    )


def test_a_part_url_is_signed_for_its_upload_and_part(store: LocalObjectStore) -> None:
    assert not store.presigned_puts
    upload_id = store.start_multipart("uploads/6/source")

    url = store.part_url("uploads/6/source", upload_id, 2, 60)

    key, query = _url_parts(store, url)
    assert (key, query["uploadId"], query["partNumber"]) == ("uploads/6/source", upload_id, "2")
    expires, signature = query["expires"], query["signature"]
    part = (upload_id, 2)
    assert verify_local_signature(LOCAL_SIGNING_SECRET, key, expires, "PUT", signature, part=part)
    for other in ((upload_id, 3), ("f" * 32, 2)):
        assert not verify_local_signature(
            LOCAL_SIGNING_SECRET, key, expires, "PUT", signature, part=other
        )
    # Neither is it a presigned PUT of the whole object.
    assert not verify_local_signature(LOCAL_SIGNING_SECRET, key, expires, "PUT", signature)


def test_open_uploads_live_in_the_reserved_folder_and_never_show_as_objects(
    store: LocalObjectStore,
) -> None:
    store.put_bytes("videos/1/a", b"a")
    upload_id = store.start_multipart("videos/1/b")
    store.upload_part("videos/1/b", upload_id, 1, b"part")

    reserved = [path for path in store.root.iterdir() if path.name.startswith(".reelflow-")]
    assert [path.name for path in reserved] == [".reelflow-multipart"]
    assert store.list("") == ["videos/1/a"]
    assert store.versions("videos/1") == []
    with pytest.raises(InvalidKey):
        store.get_bytes(".reelflow-multipart/" + upload_id + "/upload.json")

    # An upload id names an upload of one key only (S3Proxy, unlike S3, does not check).
    assert store.abort_multipart("videos/1/a", upload_id) is False
    assert store.abort_multipart("videos/1/b", upload_id) is True
    assert list((store.root / ".reelflow-multipart").iterdir()) == []


def test_complete_replaces_the_object_at_once_and_clears_the_parts(
    store: LocalObjectStore,
) -> None:
    store.put_bytes("uploads/7/source", b"old")
    upload_id = store.start_multipart("uploads/7/source")
    etag = store.upload_part("uploads/7/source", upload_id, 1, b"new bytes")

    store.complete_multipart("uploads/7/source", upload_id, [Part(1, etag)])

    assert store.get_bytes("uploads/7/source") == b"new bytes"
    assert list((store.root / ".reelflow-multipart").iterdir()) == []
    assert sorted(path.name for path in store.path("uploads/7/source").parent.iterdir()) == [
        "source"
    ], "no temporary file is left beside the object"


def test_parts_are_listed_in_ascending_order(store: LocalObjectStore) -> None:
    upload_id = store.start_multipart("uploads/8/source")
    one = store.upload_part("uploads/8/source", upload_id, 1, b"x" * (5 * 1024**2))
    two = store.upload_part("uploads/8/source", upload_id, 2, b"y")

    with pytest.raises(InvalidParts) as refused:
        store.complete_multipart("uploads/8/source", upload_id, [Part(2, two), Part(1, one)])

    assert refused.value.code == "InvalidPartOrder"


def test_move_file_renames_the_file_into_the_store(store: LocalObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "objects-side" / "assembled"
    source.parent.mkdir()
    source.write_bytes(b"whole")
    inode = source.stat().st_ino

    store.move_file("uploads/9/source", source)

    stored = store.path("uploads/9/source")
    assert stored.stat().st_ino == inode, "renamed, not copied"
    assert stored.stat().st_mode & 0o777 == 0o644
    assert not source.exists()


def test_a_copy_is_a_second_name_of_the_same_file(store: LocalObjectStore) -> None:
    store.put_bytes("work/1/renditions/seg-1.m4s", b"segment")

    store.copy("work/1/renditions/seg-1.m4s", "videos/1/v/stream/seg-1.m4s")

    source, copy = (
        store.path("work/1/renditions/seg-1.m4s"),
        store.path("videos/1/v/stream/seg-1.m4s"),
    )
    assert copy.stat().st_ino == source.stat().st_ino, "linked, not copied"
    # A write makes a new file: the copy keeps the bytes it was made with.
    store.put_bytes("work/1/renditions/seg-1.m4s", b"written again")
    assert copy.read_bytes() == b"segment"
    assert [p.name for p in copy.parent.iterdir()] == ["seg-1.m4s"], "no temporary name left"
