"""Copies inside the store: one object, a whole folder, and a new version published from
folders already in the store, on the local directory and a real S3Proxy bucket alike."""

from __future__ import annotations

import os

import pytest

from storage.objects import CURRENT, VERSION_RE, InvalidKey, ObjectNotFound, ObjectStore


def test_a_copy_has_the_bytes_and_type_and_outlives_its_source(object_store: ObjectStore) -> None:
    object_store.put_bytes("work/1/data", b"{}", content_type="application/json")
    object_store.put_bytes("work/1/copy", b"older object under the target key")

    object_store.copy("work/1/data", "work/1/copy")

    assert object_store.get_bytes("work/1/copy") == b"{}"
    assert object_store.content_type("work/1/copy") == "application/json"
    object_store.put_bytes("work/1/data", b"written again", content_type="text/plain")
    object_store.delete("work/1/data")
    assert object_store.get_bytes("work/1/copy") == b"{}"
    assert object_store.content_type("work/1/copy") == "application/json"


def test_a_multipart_sized_object_is_copied_whole(object_store: ObjectStore) -> None:
    # Above boto3's 8 MiB threshold, S3 copies it part by part.
    data = os.urandom(12 * 1024 * 1024 + 123)
    object_store.put_bytes("uploads/2/source", data, content_type="video/mp4")

    object_store.copy("uploads/2/source", "work/2/run/source_video/source")

    assert object_store.get_bytes("work/2/run/source_video/source") == data
    assert object_store.content_type("work/2/run/source_video/source") == "video/mp4"


def test_copying_a_missing_object_or_to_an_invalid_key_fails(object_store: ObjectStore) -> None:
    object_store.put_bytes("work/3/a", b"a")

    with pytest.raises(ObjectNotFound):
        object_store.copy("work/3/missing", "work/3/b")
    with pytest.raises(InvalidKey):
        object_store.copy("work/3/a", "work/3/../b")

    assert object_store.list("work/3") == ["work/3/a"]


def test_copy_prefix_copies_the_folder_and_nothing_beside_it(object_store: ObjectStore) -> None:
    files = {"master.m3u8": b"#EXTM3U", "r360/init.mp4": b"init", "r360/seg-1.m4s": b"seg"}
    for name, data in files.items():
        object_store.put_bytes(f"work/4/renditions/{name}", data)
    object_store.put_bytes("work/4/renditions2/other", b"a sibling folder")

    written = object_store.copy_prefix("work/4/renditions", "work/4/packaged/")

    assert written == [f"work/4/packaged/{name}" for name in sorted(files)]
    assert object_store.list("work/4/packaged") == written
    for name, data in files.items():
        assert object_store.get_bytes(f"work/4/packaged/{name}") == data
    assert object_store.content_type("work/4/packaged/master.m3u8") == (
        "application/vnd.apple.mpegurl"
    )
    assert object_store.copy_prefix("work/4/nothing", "work/4/empty") == []
    with pytest.raises(InvalidKey):
        object_store.copy_prefix("work/4/renditions", "")


def test_publish_copies_makes_a_version_of_folders_then_switches(object_store: ObjectStore) -> None:
    object_store.put_bytes("work/5/stream/master.m3u8", b"#EXTM3U")
    object_store.put_bytes("work/5/stream/r360/seg-1.m4s", b"seg")
    object_store.put_bytes("work/5/thumbs/poster.jpg", b"jpeg")
    first = object_store.publish_copies("videos/5", {"stream": "work/5/stream"})

    second = object_store.publish_copies(
        "videos/5", {"stream": "work/5/stream/", "thumbs": "work/5/thumbs"}
    )

    assert VERSION_RE.fullmatch(second) and second != first
    assert object_store.current_version("videos/5") == second
    assert object_store.versions("videos/5") == [first, second]
    assert object_store.list(f"videos/5/{second}") == [
        f"videos/5/{second}/stream/master.m3u8",
        f"videos/5/{second}/stream/r360/seg-1.m4s",
        f"videos/5/{second}/thumbs/poster.jpg",
    ]
    assert object_store.get_bytes(f"videos/5/{second}/thumbs/poster.jpg") == b"jpeg"
    # The working objects stay until their owner deletes them.
    assert len(object_store.list("work/5")) == 3


def test_publish_copies_of_empty_folders_is_refused_and_switches_nothing(
    object_store: ObjectStore,
) -> None:
    object_store.put_bytes("work/6/stream/master.m3u8", b"#EXTM3U")
    published = object_store.publish_copies("videos/6", {"stream": "work/6/stream"})

    with pytest.raises(ValueError):
        object_store.publish_copies("videos/6", {"stream": "work/6/nothing"})

    assert object_store.get_bytes(f"videos/6/{CURRENT}").decode() == published
    assert object_store.versions("videos/6") == [published]
