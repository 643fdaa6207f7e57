"""The publishing stage: the package under a new version behind the CDN, the video switched to
it in the catalog; processing again publishes another version and keeps the previous one."""

from __future__ import annotations

import pickle
from dataclasses import fields, is_dataclass
from pathlib import Path, PurePath
from uuid import UUID

import pytest
from dagster import DagsterEventType

from media import checks
from pipelines.resources import IO_PREFIX
from reelflow import layout
from storage.catalog import EncodingStatus, StreamFormat
from storage.objects import CURRENT
from tests.fixtures.lifecycle import CLIP, Lifecycle, Reprocessed, Stored
from tests.fixtures.media_pipeline import MEDIA_ASSETS


def test_the_package_is_published_and_the_video_switched_to_it(published_clip: Lifecycle) -> None:
    clip = published_clip
    platform, video = clip.platform, clip.video
    assert video.encoding_status == EncodingStatus.READY
    assert video.published_version is not None
    assert video.duration_s == pytest.approx(CLIP["duration_s"], abs=0.1)
    heights = {a.height for a in clip.assets}
    assert len(clip.assets) == 2 * len(heights)
    assert {a.version for a in clip.assets} == {video.published_version}
    for asset in clip.assets:
        assert platform.store.exists(platform.key_of(asset.cdn_url))

    resolved = checks.manifests_resolve(clip.published / "stream")
    assert resolved.passed, resolved.description


def test_the_materialization_describes_what_was_published(published_clip: Lifecycle) -> None:
    clip = published_clip
    published = clip.metadata("published_video")
    assert published["version"] == clip.video.published_version
    assert published["stream_assets"] == len(clip.assets)
    assert published["encrypted"] is clip.premium
    assert published["objects"] == len([p for p in clip.published.rglob("*") if p.is_file()])
    dash = {a.cdn_url for a in clip.assets if a.format == StreamFormat.DASH}
    assert dash == {published["dash"]}
    assert published["hls"].endswith("/master.m3u8")
    assert published["pruned_versions"] == 0


def test_processing_again_publishes_a_new_version_and_keeps_the_previous(
    republished_clip: Reprocessed,
) -> None:
    first, again = republished_clip.first, republished_clip.video
    previous = first.video.published_version
    assert republished_clip.result.success
    assert again.published_version is not None and again.published_version != previous
    # Rows don't pile up; players that loaded the previous manifest can still read it.
    assert len(republished_clip.assets) == len(first.assets)
    assert {a.version for a in republished_clip.assets} == {again.published_version}
    assert first.platform.store.list(f"videos/{first.video_id}/{previous}/")


def test_a_run_is_one_step_per_asset_its_checks_inside(published_clip: Lifecycle) -> None:
    result = published_clip.result
    started = [e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_START]
    assert sorted(started) == sorted(asset.key.to_user_string() for asset in MEDIA_ASSETS)
    # Every check was evaluated, by the step of the asset it checks.
    for evaluation in result.get_asset_check_evaluations():
        assert evaluation.asset_key.to_user_string() in started


def _versions(stored: Stored, video_id: UUID) -> set[str]:
    """The versions of the video's published objects; every object is a version's, or CURRENT."""
    prefix = layout.video_prefix(video_id)
    tops = {key.removeprefix(prefix).split("/", 1)[0] for key in stored.videos}
    assert CURRENT in tops
    return tops - {CURRENT}


def test_publishing_leaves_no_work_and_only_the_published_version(
    published_clip: Lifecycle,
) -> None:
    stored, video = published_clip.stored, published_clip.video
    assert stored.work == []
    assert _versions(stored, video.id) == {video.published_version}


def test_publishing_again_keeps_the_version_before_and_no_work(
    republished_clip: Reprocessed,
) -> None:
    first, again = republished_clip.first, republished_clip.video
    stored = republished_clip.stored
    assert stored.work == []
    # The catalog's version, and the one pruning keeps for players still reading it.
    assert _versions(stored, again.id) == {first.video.published_version, again.published_version}
    current = first.platform.store.current_version(layout.video_prefix(again.id))
    assert current == again.published_version


def _pickled_outputs(clip: Lifecycle) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The step outputs the run left on the instance's disk and in the bucket, by asset.

    The IO managers name an output `<asset>/<partition>`; compute logs live on disk too.
    """
    platform, partition = clip.platform, str(clip.video_id)
    storage = Path(platform.instance.storage_directory())
    on_disk = {p.parent.name: p.read_bytes() for p in storage.rglob(partition) if p.is_file()}
    in_bucket = {
        key.split("/")[-2]: platform.store.get_bytes(key)
        for key in platform.store.list(IO_PREFIX)
        if key.endswith(f"/{partition}")
    }
    return on_disk, in_bucket


def test_step_outputs_are_pickled_beside_the_objects_of_an_s3_deployment(
    published_clip: Lifecycle,
) -> None:
    on_disk, in_bucket = _pickled_outputs(published_clip)
    outputs = sorted(asset.key.to_user_string() for asset in MEDIA_ASSETS)
    if published_clip.platform.settings.object_store == "s3":
        assert on_disk == {}
        assert sorted(in_bucket) == outputs
        assert published_clip.platform.store.list(IO_PREFIX) == [
            f"{IO_PREFIX}/{asset}/{published_clip.video_id}" for asset in outputs
        ]
    else:
        assert in_bucket == {}
        assert sorted(on_disk) == outputs


def _paths_in(value: object) -> list[PurePath]:
    """Every path held by a step output (dataclasses, containers), however deep."""
    if isinstance(value, PurePath):
        return [value]
    if is_dataclass(value) and not isinstance(value, type):
        return _paths_in([getattr(value, f.name) for f in fields(value)])
    if isinstance(value, dict):
        return _paths_in([*value.keys(), *value.values()])
    if isinstance(value, list | tuple | set | frozenset):
        return [path for item in value for path in _paths_in(item)]
    return []


def test_steps_hand_each_other_small_descriptions_never_local_paths(
    published_clip: Lifecycle,
) -> None:
    on_disk, in_bucket = _pickled_outputs(published_clip)
    for asset, data in (on_disk | in_bucket).items():
        assert _paths_in(pickle.loads(data)) == [], asset
        assert len(data) < 16 * 1024, asset
