"""The published layout's keys: where they nest, what a staged tree becomes, what is refused."""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path, PurePath, PurePosixPath
from uuid import UUID

import pytest

from reelflow import layout
from storage.objects import folder_of, validate_key

VIDEO = UUID("6f1c2a9e-3b4d-4e5f-8a7b-0c1d2e3f4a5b")
VERSION = "20260101T120000.000000Z-a1b2c3"

KeyOf = Callable[[UUID | str, str, str | PurePath], str]


def test_a_version_nests_in_its_video_and_its_folders_in_the_version() -> None:
    video = layout.video_prefix(VIDEO)
    version = layout.version_prefix(VIDEO, VERSION)
    thumbs = layout.thumbs_prefix(VIDEO, VERSION)

    assert version.startswith(video) and thumbs.startswith(version)
    # Prefixes are already the folders the object store and playback grants normalise to.
    assert [folder_of(p) for p in (video, version, thumbs)] == [video, version, thumbs]


def test_a_video_prefix_never_covers_another_video() -> None:
    # Deleting one video's objects by prefix must leave a video whose id extends its id alone.
    assert not layout.video_prefix("abcd").startswith(layout.video_prefix("abc"))


@pytest.mark.parametrize(
    ("folder", "key_of"),
    [
        (layout.STREAM, layout.stream_key),
        (layout.THUMBS, layout.thumbs_key),
    ],
)
@pytest.mark.parametrize("relative", ["manifest.mpd", "360p/init.mp4", Path("360p/1.m4s")])
def test_a_staged_file_is_published_at_its_path_under_the_version(
    folder: str, key_of: KeyOf, relative: str | Path
) -> None:
    # `ObjectStore.publish` uploads staging/<folder>/<relative> to <version prefix><same path>.
    staged = PurePosixPath(folder) / relative

    key = key_of(VIDEO, VERSION, relative)

    assert validate_key(key) == key
    assert key.removeprefix(layout.version_prefix(VIDEO, VERSION)) == staged.as_posix()


def test_manifest_keys_name_the_packages_manifests() -> None:
    version = layout.version_prefix(VIDEO, VERSION)

    def in_version(key: str) -> list[str]:
        assert key.startswith(version)
        return key.removeprefix(version).split("/")

    assert in_version(layout.hls_master_key(VIDEO, VERSION)) == [
        layout.STREAM,
        layout.HLS_MASTER_NAME,
    ]
    assert in_version(layout.mpd_key(VIDEO, VERSION)) == [layout.STREAM, layout.MPD_NAME]
    assert in_version(layout.hls_aes_master_key(VIDEO, VERSION)) == [
        layout.HLS_AES,
        layout.HLS_MASTER_NAME,
    ]


def test_the_thumbnails_grant_covers_the_thumbnails_but_not_the_streams() -> None:
    thumbs = layout.thumbs_prefix(VIDEO, VERSION)

    assert layout.thumbs_key(VIDEO, VERSION, layout.VTT_NAME).startswith(thumbs)
    assert layout.thumbs_key(VIDEO, VERSION, layout.POSTER_NAME).startswith(thumbs)
    assert not layout.mpd_key(VIDEO, VERSION).startswith(thumbs)
    assert not layout.hls_aes_master_key(VIDEO, VERSION).startswith(thumbs)


def test_a_uuid_and_its_text_give_the_same_keys() -> None:
    assert layout.mpd_key(VIDEO, VERSION) == layout.mpd_key(str(VIDEO), VERSION)


def test_sprite_sheets_match_their_glob_and_nothing_else_of_the_folder_does() -> None:
    # Stale sheets are removed by the glob: it must catch every sheet and spare the rest.
    sheets = [layout.SPRITE_PATTERN % n for n in (1, 2, 120)]

    assert all(fnmatch(sheet, layout.SPRITE_GLOB) for sheet in sheets)
    assert not fnmatch(layout.POSTER_NAME, layout.SPRITE_GLOB)
    assert not fnmatch(layout.VTT_NAME, layout.SPRITE_GLOB)


@pytest.mark.parametrize("relative", ["", ".", "../other/manifest.mpd", "a/../../b", "/etc/passwd"])
def test_paths_leaving_their_folder_are_refused(relative: str) -> None:
    with pytest.raises(ValueError):
        layout.stream_key(VIDEO, VERSION, relative)


@pytest.mark.parametrize(
    ("video_id", "version"),
    [("", VERSION), ("a/b", VERSION), ("..", VERSION), (VIDEO, ""), (VIDEO, "v1/stream")],
)
def test_ids_that_are_not_one_path_segment_are_refused(video_id: UUID | str, version: str) -> None:
    with pytest.raises(ValueError):
        layout.version_prefix(video_id, version)


RUN = "0b5c7f7e-9d3a-4c1e-8f2b-6a7d8e9f0a1b"


def test_a_steps_work_prefix_nests_in_its_videos_work_and_is_a_folder() -> None:
    work = layout.work_prefix(VIDEO, RUN, "renditions")

    assert work == f"work/{VIDEO}/{RUN}/renditions/"
    assert work.startswith(layout.video_work_prefix(VIDEO))
    assert folder_of(work) == work
    assert validate_key(work + "seg-0-00001.m4s")


def test_work_prefixes_never_cover_each_other_nor_anything_published() -> None:
    renditions = layout.work_prefix(VIDEO, RUN, "renditions")
    # Deleting one video's work must leave a video whose id extends its id alone.
    assert not layout.video_work_prefix("abcd").startswith(layout.video_work_prefix("abc"))
    assert not layout.work_prefix(VIDEO, RUN, "renditions2").startswith(renditions)
    assert not layout.work_prefix(VIDEO, RUN + "0", "renditions").startswith(renditions)
    # Playback grants sign folders of videos/: none of them reaches working objects.
    assert not renditions.startswith(layout.video_prefix(VIDEO))
    assert not layout.video_work_prefix(VIDEO).startswith(f"{layout.VIDEOS}/")


@pytest.mark.parametrize(
    ("video_id", "run_id", "asset"),
    [("", RUN, "renditions"), (VIDEO, "a/b", "renditions"), (VIDEO, RUN, ""), (VIDEO, "..", "x")],
)
def test_work_prefixes_refuse_ids_that_are_not_one_path_segment(
    video_id: UUID | str, run_id: str, asset: str
) -> None:
    with pytest.raises(ValueError):
        layout.work_prefix(video_id, run_id, asset)
