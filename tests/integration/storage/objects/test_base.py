"""The ObjectStore interface, run unchanged against the local directory and a real S3Proxy bucket.

Prefixes are folders: `list("a/b")` and `list("a/b/")` both mean "the keys under `a/b/`".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.objects import (
    CURRENT,
    VERSION_RE,
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
)

INVALID_KEYS = ["", "/videos/1", "videos/../secrets", "..", "a\\b", "a//b", "a/", "a/./b"]


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_put_bytes_then_get_bytes_returns_them(object_store: ObjectStore) -> None:
    object_store.put_bytes("videos/1/source.bin", b"\x00first")
    assert object_store.get_bytes("videos/1/source.bin") == b"\x00first"

    object_store.put_bytes("videos/1/source.bin", b"second")
    assert object_store.get_bytes("videos/1/source.bin") == b"second"


def test_put_file_then_download_roundtrips_a_multipart_sized_file(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    # Above boto3's 8 MiB multipart threshold, so S3 receives it in parts.
    source = tmp_path / "source.mp4"
    source.write_bytes(os.urandom(12 * 1024 * 1024 + 123))

    object_store.put_file("videos/2/source.mp4", source)
    object_store.download("videos/2/source.mp4", tmp_path / "out" / "copy.mp4")

    assert (tmp_path / "out" / "copy.mp4").read_bytes() == source.read_bytes()
    assert object_store.get_bytes("videos/2/source.mp4") == source.read_bytes()


def test_exists_and_size(object_store: ObjectStore) -> None:
    object_store.put_bytes("a/one.bin", b"12345")
    object_store.put_bytes("a/empty.bin", b"")

    assert object_store.exists("a/one.bin")
    assert object_store.size("a/one.bin") == 5
    assert object_store.size("a/empty.bin") == 0
    assert not object_store.exists("a/two.bin")
    assert not object_store.exists("a"), "a folder is not an object"


def test_stat_tells_size_type_etag_and_time(object_store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    object_store.put_bytes("a/clip.mp4", b"12345")
    object_store.put_bytes("a/data", b"{}", content_type="application/json")

    clip = object_store.stat("a/clip.mp4")
    assert (clip.size, clip.content_type) == (5, "video/mp4")
    assert clip.etag.startswith('"') and clip.etag.endswith('"') and len(clip.etag) > 2
    assert before <= clip.modified <= datetime.now(UTC) + timedelta(seconds=2)
    assert object_store.stat("a/data").content_type == "application/json"
    assert object_store.size("a/clip.mp4") == 5

    # Written again with other bytes, the object gets another ETag.
    object_store.put_bytes("a/clip.mp4", b"654321")
    assert object_store.stat("a/clip.mp4").etag != clip.etag


def test_stat_of_a_folder_or_missing_key_is_not_found(object_store: ObjectStore) -> None:
    object_store.put_bytes("a/b/c", b"x")

    for key in ("a/b", "a/missing", "a/b/c/d"):
        with pytest.raises(ObjectNotFound):
            object_store.stat(key)


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (0, None, b"0123456789"),
        (0, 0, b"0"),
        (2, 5, b"2345"),
        (9, 9, b"9"),
        (3, None, b"3456789"),
        (5, 100, b"56789"),
        (10, None, b""),
        (10, 20, b""),
        (50, None, b""),
    ],
)
def test_open_range_reads_inclusive_ranges_clipped_to_the_end(
    object_store: ObjectStore, first: int, last: int | None, expected: bytes
) -> None:
    object_store.put_bytes("a/ten", b"0123456789")

    with object_store.open_range("a/ten", first, last) as stream:
        assert stream.read() == expected


def test_open_range_of_an_empty_object_is_empty(object_store: ObjectStore) -> None:
    object_store.put_bytes("a/empty", b"")

    for first, last in ((0, None), (0, 0), (1, None)):
        with object_store.open_range("a/empty", first, last) as stream:
            assert stream.read() == b""


def test_open_range_streams_a_large_object_in_chunks(object_store: ObjectStore) -> None:
    data = os.urandom(300_000)
    object_store.put_bytes("a/large.bin", data)

    stream = object_store.open_range("a/large.bin", 1000, 250_999)
    chunks = list(stream)

    assert len(chunks) > 1
    assert b"".join(chunks) == data[1000:251_000]
    # Iterating to the end closed it: closing again is harmless.
    stream.close()


def test_open_range_fails_at_once_for_a_missing_object(object_store: ObjectStore) -> None:
    object_store.put_bytes("a/other", b"x")

    for key in ("a/missing", "a"):
        with pytest.raises(ObjectNotFound) as raised:
            object_store.open_range(key, 0, 10)
        assert raised.value.key == key


@pytest.mark.parametrize(("first", "last"), [(-1, None), (5, 4)])
def test_open_range_rejects_reversed_or_negative_ranges(
    object_store: ObjectStore, first: int, last: int | None
) -> None:
    object_store.put_bytes("a/ten", b"0123456789")

    with pytest.raises(ValueError):
        object_store.open_range("a/ten", first, last)


def test_move_file_stores_the_file_and_removes_it(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "assembled"
    source.write_bytes(b"whole source")

    object_store.move_file("uploads/1/source", source)

    assert object_store.get_bytes("uploads/1/source") == b"whole source"
    assert not source.exists()


def test_list_returns_sorted_keys_under_the_folder_only(object_store: ObjectStore) -> None:
    keys = ["a/b/2/x", "a/b/1", "a/bc/3", "a/b.txt", "z"]
    for key in keys:
        object_store.put_bytes(key, key.encode())

    assert object_store.list("a/b") == ["a/b/1", "a/b/2/x"]
    assert object_store.list("a/b/") == ["a/b/1", "a/b/2/x"]
    assert object_store.list("a") == ["a/b.txt", "a/b/1", "a/b/2/x", "a/bc/3"]
    assert object_store.list("") == sorted(keys)
    assert object_store.list("nothing/here") == []


def test_list_crosses_pages_of_keys_with_characters_that_get_url_encoded(
    object_store: ObjectStore,
) -> None:
    # Hive-style partition folders, as the analyst datasets use; S3 lists two keys a page here.
    keys = [f"analytics/d/day=2026-11-0{n}/part 0+1.parquet" for n in range(1, 6)]
    for key in keys:
        object_store.put_bytes(key, b"x")

    assert object_store.list("analytics/d") == keys


def test_delete_removes_one_object_and_tolerates_missing_keys(object_store: ObjectStore) -> None:
    object_store.put_bytes("a/1", b"1")
    object_store.put_bytes("a/2", b"2")

    object_store.delete("a/1")
    object_store.delete("a/1")

    assert object_store.list("a") == ["a/2"]


def test_delete_prefix_counts_what_it_removed(object_store: ObjectStore) -> None:
    for key in ["v/1/a", "v/1/b/c", "v/1/b/d", "v/10/a", "v/1.txt"]:
        object_store.put_bytes(key, b"x")

    assert object_store.delete_prefix("v/1") == 3
    assert object_store.delete_prefix("v/1/") == 0
    assert object_store.list("") == ["v/1.txt", "v/10/a"]


def test_delete_prefix_refuses_the_whole_store(object_store: ObjectStore) -> None:
    object_store.put_bytes("keep", b"x")

    with pytest.raises(InvalidKey):
        object_store.delete_prefix("")

    assert object_store.exists("keep")


@pytest.mark.parametrize(
    "operation",
    [
        lambda store, tmp: store.get_bytes("missing/key"),
        lambda store, tmp: store.size("missing/key"),
        lambda store, tmp: store.content_type("missing/key"),
        lambda store, tmp: store.download("missing/key", tmp / "out.bin"),
        lambda store, tmp: store.stat("missing/key"),
        lambda store, tmp: store.open_range("missing/key"),
    ],
    ids=["get_bytes", "size", "content_type", "download", "stat", "open_range"],
)
def test_missing_key_raises_object_not_found(
    object_store: ObjectStore,
    tmp_path: Path,
    operation: Callable[[ObjectStore, Path], object],
) -> None:
    object_store.put_bytes("missing/other", b"x")

    with pytest.raises(ObjectNotFound) as raised:
        operation(object_store, tmp_path)

    assert raised.value.key == "missing/key"
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_rejected_by_every_operation(
    object_store: ObjectStore, tmp_path: Path, key: str
) -> None:
    (tmp_path / "f").write_bytes(b"x")
    operations: list[Callable[[], object]] = [
        lambda: object_store.put_bytes(key, b"x"),
        lambda: object_store.put_file(key, tmp_path / "f"),
        lambda: object_store.get_bytes(key),
        lambda: object_store.exists(key),
        lambda: object_store.size(key),
        lambda: object_store.delete(key),
        lambda: object_store.presign(key, 60),
        lambda: object_store.stat(key),
        lambda: object_store.open_range(key),
        lambda: object_store.start_multipart(key),
    ]
    for operation in operations:
        with pytest.raises(InvalidKey):
            operation()
    assert object_store.list("") == []


def test_presign_rejects_other_methods_and_expiries(object_store: ObjectStore) -> None:
    with pytest.raises(ValueError):
        object_store.presign("a/b", 60, method="DELETE")
    with pytest.raises(ValueError):
        object_store.presign("a/b", 0)


def test_put_tree_guesses_content_types(object_store: ObjectStore, tmp_path: Path) -> None:
    expected = {
        "master.m3u8": "application/vnd.apple.mpegurl",
        "manifest.mpd": "application/dash+xml",
        "720p/init.mp4": "video/mp4",
        "720p/seg_00001.m4s": "video/iso.segment",
        "aes/seg_00001.ts": "video/mp2t",
        "thumbs/sprites.vtt": "text/vtt",
        "thumbs/poster.jpg": "image/jpeg",
        "notes.unknownext": "application/octet-stream",
    }
    directory = _tree(tmp_path / "stream", {name: name.encode() for name in expected})

    keys = object_store.put_tree("videos/6/stream", directory)

    assert keys == sorted(f"videos/6/stream/{name}" for name in expected)
    assert object_store.list("videos/6/stream") == keys
    for name, content_type in expected.items():
        assert object_store.content_type(f"videos/6/stream/{name}") == content_type
        assert object_store.get_bytes(f"videos/6/stream/{name}") == name.encode()


def test_an_explicit_content_type_wins_and_can_be_reset(object_store: ObjectStore) -> None:
    object_store.put_bytes("a/data.json", b"{}", content_type="application/x-custom")
    assert object_store.content_type("a/data.json") == "application/x-custom"

    object_store.put_bytes("a/data.json", b"{}")
    assert object_store.content_type("a/data.json") == "application/json"
    assert object_store.list("a") == ["a/data.json"]


def test_nothing_is_current_before_the_first_publish(object_store: ObjectStore) -> None:
    assert object_store.current_version("videos/7/stream") is None
    assert object_store.versions("videos/7/stream") == []


def test_publish_switches_current_and_keeps_the_old_version_until_prune(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    prefix = "videos/8/stream"
    first_files = {"master.m3u8": b"#EXTM3U v1", "720p/seg_1.m4s": b"segment v1"}
    first = object_store.publish(prefix, _tree(tmp_path / "v1", first_files))
    assert object_store.current_version(prefix) == first
    assert VERSION_RE.fullmatch(first)

    second = object_store.publish(
        prefix, _tree(tmp_path / "v2", {"master.m3u8": b"#EXTM3U v2", "720p/seg_2.m4s": b"v2"})
    )

    assert object_store.current_version(prefix) == second
    assert object_store.get_bytes(f"{prefix}/{CURRENT}").decode() == second
    assert object_store.versions(prefix) == [first, second]
    for name, data in first_files.items():
        assert object_store.get_bytes(f"{prefix}/{first}/{name}") == data
    assert object_store.get_bytes(f"{prefix}/{second}/master.m3u8") == b"#EXTM3U v2"

    assert object_store.prune(prefix, keep=0) == [first]

    assert object_store.versions(prefix) == [second]
    assert object_store.current_version(prefix) == second
    assert object_store.list(f"{prefix}/{first}") == []
    with pytest.raises(ObjectNotFound):
        object_store.get_bytes(f"{prefix}/{first}/master.m3u8")
    assert object_store.get_bytes(f"{prefix}/{second}/720p/seg_2.m4s") == b"v2"


def test_prune_keeps_the_current_version_and_the_newest(
    object_store: ObjectStore, tmp_path: Path
) -> None:
    prefix = "videos/9/stream"
    directory = _tree(tmp_path / "stream", {"master.m3u8": b"#EXTM3U"})
    published = [object_store.publish(prefix, directory) for _ in range(4)]
    # Roll back to the oldest version: prune must not remove what CURRENT points at.
    object_store.put_bytes(f"{prefix}/{CURRENT}", published[0].encode())

    removed = object_store.prune(prefix, keep=2)

    assert removed == published[1:2]
    assert object_store.versions(prefix) == [published[0], *published[2:]]
    assert object_store.current_version(prefix) == published[0]
    assert object_store.prune(prefix, keep=2) == []


def test_publish_refuses_an_empty_directory(object_store: ObjectStore, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    with pytest.raises(ValueError):
        object_store.publish("videos/10/stream", tmp_path / "empty")

    assert object_store.current_version("videos/10/stream") is None
