"""The transcode stage: the planned ladder encoded as aligned CMAF renditions, and its blocking
checks (decodable, full length, keyframes at segment boundaries, no upscaling, quality)."""

from __future__ import annotations

from pathlib import Path

from dagster import SensorResult

from media.ladder import plan_ladder
from media.probe import probe
from media.samples import make_clip
from storage.catalog import EncodingStatus, Visibility
from tests.fixtures.lifecycle import Lifecycle, Platform

RENDITION_CHECKS = {
    "renditions_decode",
    "renditions_duration",
    "renditions_keyframes",
    "renditions_not_upscaled",
    "renditions_quality",
}


def test_every_planned_rung_is_encoded_and_published(published_clip: Lifecycle) -> None:
    clip = published_clip
    settings = clip.platform.settings
    planned = plan_ladder(probe(clip.source), segment_s=settings.segment_s)
    heights = sorted({a.height for a in clip.assets})
    assert heights == sorted(r.height for r in planned.rungs) == [234, 360]

    encoded = clip.metadata("renditions")
    assert encoded["rungs"] == len(planned.rungs)
    assert encoded["segment_s"] == settings.segment_s
    for rung in planned.rungs:
        assert f"| {rung.name} | {rung.width}x{rung.height} |" in encoded["ladder"]
    assert encoded["total_bytes"] > 0


def test_the_renditions_pass_every_check(published_clip: Lifecycle) -> None:
    assert published_clip.checks("renditions") == dict.fromkeys(RENDITION_CHECKS, True)


def test_failed_check_blocks_publishing(platform: Platform, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", width=320, height=240, duration_s=2.0)
    video_id = platform.upload(source, Visibility.PUBLIC)
    assert isinstance(platform.sense(), SensorResult)
    # A quality floor no lossy encode reaches: the real check fails, and blocks what follows.
    result = platform.run(video_id, ssim_floor=0.9999)
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == RENDITION_CHECKS
    assert all(e.blocking for e in evaluations.values())
    quality = evaluations["renditions_quality"]
    assert quality.passed is False and "SSIM" in (quality.description or "")
    assert all(evaluations[name].passed for name in RENDITION_CHECKS - {"renditions_quality"})
    # The step that made the renditions fails with what the check found, and is not retried.
    failure = result.failure_data_for_node("renditions")
    assert failure is not None and failure.user_failure_data is not None
    assert failure.user_failure_data.description == f"renditions_quality: {quality.description}"
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert result.asset_materializations_for_node("published_video") == []
    video = platform.catalog.get_video(video_id)
    assert video.published_version is None
    assert video.encoding_status != EncodingStatus.READY
    assert platform.store.list(f"videos/{video_id}") == []
    assert platform.catalog.list_stream_assets(video_id) == []
