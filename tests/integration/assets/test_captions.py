"""Captions through the pipeline: a premium clip with a caption track is published with the
track in its clear-text subtitle renditions beside the encrypted streams; changing its tracks
publishes a new version from the published one, nothing encoded or encrypted again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from dagster import AssetKey, ExecuteInProcessResult, materialize

from assets.captions import captioned_version
from assets.ingest import VIDEO_PARTITIONS
from media import checks, manifests
from media.captions import parse_captions
from media.samples import make_clip
from reelflow import layout
from reelflow.settings import Settings
from storage.catalog import StreamAsset, Video, Visibility
from tests.fixtures.api_module import isolated_api_settings
from tests.fixtures.lifecycle import CLIP, Platform, open_platform

ENGLISH = b"WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello\n\n00:00:02.500 --> 00:00:09.000\nBye\n"
FRENCH = b"1\n00:00:01,000 --> 00:00:03,000\nBonjour\n"
SUBTITLES = "#EXT-X-MEDIA:TYPE=SUBTITLES"


@dataclass(frozen=True)
class Version:
    """A published version as the catalog and the store had it."""

    video: Video
    assets: list[StreamAsset]
    objects: dict[str, bytes]  # key relative to the version -> bytes
    directory: Path

    def text(self, path: str) -> str:
        return self.objects[path].decode()


@dataclass(frozen=True)
class Captioned:
    platform: Platform
    video_id: UUID
    first: Version
    first_run: ExecuteInProcessResult
    changed: Version
    change_run: ExecuteInProcessResult
    cleared: Version
    versions_after: list[str]
    work_after: list[str]


def _put(platform: Platform, video_id: UUID, language: str, label: str, data: bytes) -> None:
    key = layout.captions_key(video_id, language)
    platform.store.put_bytes(key, parse_captions(data).webvtt.encode())
    platform.catalog.put_caption(video_id, language, label, key, 2)


def _version(platform: Platform, video_id: UUID, directory: Path) -> Version:
    video = platform.catalog.get_video(video_id)
    assert video.published_version is not None
    prefix = layout.version_prefix(video_id, video.published_version)
    platform.download_version(video_id, video.published_version, directory)
    objects = {
        key[len(prefix) :]: platform.store.get_bytes(key) for key in platform.store.list(prefix)
    }
    return Version(video, platform.catalog.list_stream_assets(video_id), objects, directory)


def _update(platform: Platform, video_id: UUID) -> ExecuteInProcessResult:
    return materialize(
        [captioned_version],
        partition_key=str(video_id),
        resources=platform.resources,
        instance=platform.instance,
    )


@pytest.fixture(scope="module")
def captioned(
    dev_stack: Settings, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Captioned]:
    directory = tmp_path_factory.mktemp("captioned")
    with (
        isolated_api_settings(
            dev_stack, migrated_template, dev_stack.cassandra_keyspace, directory
        ) as settings,
        open_platform(settings, "local", directory) as platform,
    ):
        source = make_clip(directory / "clip.mp4", **CLIP)
        video_id = platform.upload(source, Visibility.PREMIUM)
        platform.instance.add_dynamic_partitions(VIDEO_PARTITIONS, [str(video_id)])
        _put(platform, video_id, "en", "English", ENGLISH)
        first_run = platform.run(video_id)
        assert first_run.success
        first = _version(platform, video_id, directory / "first")

        _put(platform, video_id, "fr", "Français", FRENCH)
        _put(platform, video_id, "en", "English (CC)", ENGLISH)
        change_run = _update(platform, video_id)
        changed = _version(platform, video_id, directory / "changed")

        platform.catalog.delete_caption(video_id, "en")
        platform.catalog.delete_caption(video_id, "fr")
        assert _update(platform, video_id).success
        cleared = _version(platform, video_id, directory / "cleared")
        yield Captioned(
            platform,
            video_id,
            first,
            first_run,
            changed,
            change_run,
            cleared,
            platform.store.versions(layout.video_prefix(video_id)),
            platform.store.list(layout.video_work_prefix(video_id)),
        )


def _subtitles(master: str) -> list[str]:
    return [line for line in master.splitlines() if line.startswith(SUBTITLES)]


def _text_reps(mpd: str) -> list[manifests.MpdRepresentation]:
    return [rep for rep in manifests.parse_mpd(mpd) if rep.content_type == "text"]


def test_the_first_version_has_the_track_in_every_manifest(captioned: Captioned) -> None:
    first = captioned.first
    for folder in (layout.STREAM, layout.HLS_AES):
        master = first.text(f"{folder}/{layout.HLS_MASTER_NAME}")
        [line] = _subtitles(master)
        assert 'LANGUAGE="en"' in line and 'NAME="English"' in line
        variants = [x for x in master.splitlines() if x.startswith("#EXT-X-STREAM-INF")]
        assert variants and all('SUBTITLES="subtitles"' in x for x in variants)
        resolved = checks.manifests_resolve(first.directory / folder)
        assert resolved.passed, resolved.description
    [text] = _text_reps(first.text(f"{layout.STREAM}/{layout.MPD_NAME}"))
    assert text.uris and all(f"{layout.STREAM}/{uri}" in first.objects for uri in text.uris)
    # The cue past the video's 4 s end was clipped to it, not dropped.
    segments = "".join(first.text(f"{layout.STREAM}/{uri}") for uri in text.uris)
    assert "Hello" in segments and "Bye" in segments
    evaluations = {
        e.check_name: e.passed for e in captioned.first_run.get_asset_check_evaluations()
    }
    assert evaluations["published_captions_resolve"] is True


def test_the_text_tracks_are_clear_beside_encrypted_media(captioned: Captioned) -> None:
    first = captioned.first
    mpd = first.text(f"{layout.STREAM}/{layout.MPD_NAME}")
    assert "ContentProtection" in mpd
    assert all(a.drm_key_id is not None for a in first.assets)
    [text] = _text_reps(mpd)
    assert first.text(f"{layout.STREAM}/{text.media[0]}").startswith("WEBVTT")


def test_a_caption_change_publishes_a_new_version_without_encoding(captioned: Captioned) -> None:
    first, changed = captioned.first, captioned.changed
    assert captioned.change_run.success
    assert changed.video.published_version != first.video.published_version
    # Only the captioned version was made: no media step ran again.
    materialized = {m.asset_key for m in captioned.change_run.get_asset_materialization_events()}
    assert materialized == {AssetKey("captioned_version")}
    renditions = captioned.platform.instance.get_latest_materialization_event(
        AssetKey("renditions")
    )
    assert renditions is not None and renditions.run_id == captioned.first_run.run_id
    # Every segment is the published one, byte for byte: nothing encoded or encrypted again.
    media = {path for path in first.objects if path.endswith((".m4s", ".mp4", ".ts"))}
    assert media and {p for p in changed.objects if p.endswith((".m4s", ".mp4", ".ts"))} == media
    assert all(changed.objects[path] == first.objects[path] for path in media)
    assert (
        changed.objects[f"{layout.THUMBS}/{layout.POSTER_NAME}"]
        == (first.objects[f"{layout.THUMBS}/{layout.POSTER_NAME}"])
    )

    for folder in (layout.STREAM, layout.HLS_AES):
        lines = _subtitles(changed.text(f"{folder}/{layout.HLS_MASTER_NAME}"))
        assert len(lines) == 2
        english = next(line for line in lines if 'LANGUAGE="en"' in line)
        assert 'NAME="English (CC)"' in english
        assert any('LANGUAGE="fr"' in line for line in lines)
        resolved = checks.manifests_resolve(changed.directory / folder)
        assert resolved.passed, resolved.description
    assert len(_text_reps(changed.text(f"{layout.STREAM}/{layout.MPD_NAME}"))) == 2

    version = changed.video.published_version
    assert version is not None
    assert {a.version for a in changed.assets} == {version}
    assert all(f"/{version}/" in a.cdn_url for a in changed.assets)
    assert {(a.format, a.resolution, a.drm_key_id) for a in changed.assets} == {
        (a.format, a.resolution, a.drm_key_id) for a in first.assets
    }
    assert changed.video.thumbnail_url and f"/{version}/" in changed.video.thumbnail_url


def test_removing_every_track_leaves_manifests_without_captions(captioned: Captioned) -> None:
    cleared = captioned.cleared
    for folder in (layout.STREAM, layout.HLS_AES):
        master = cleared.text(f"{folder}/{layout.HLS_MASTER_NAME}")
        assert _subtitles(master) == [] and "SUBTITLES=" not in master
        assert not any(p.startswith(f"{folder}/captions/") for p in cleared.objects)
    assert _text_reps(cleared.text(f"{layout.STREAM}/{layout.MPD_NAME}")) == []
    # The published version and the one before it stay; the work objects go.
    assert captioned.versions_after == [
        captioned.changed.video.published_version,
        cleared.video.published_version,
    ]
    assert captioned.work_after == []
