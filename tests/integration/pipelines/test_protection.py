"""A public video made premium is published again, encrypted: the protection sensor asks for
the run, the media lifecycle makes it, and the clear version stops being the one served."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import SensorResult, SkipReason, build_sensor_context

from media.samples import make_clip
from pipelines.sensors import protection_run_key, protection_sensor
from reelflow.media_runs import PARTITION_TAG, VIDEO_TAG
from storage.catalog import Catalog, Visibility
from tests.fixtures.catalog import publish
from tests.fixtures.lifecycle import Platform


def protection(platform: Platform) -> SensorResult | SkipReason:
    with build_sensor_context(instance=platform.instance, resources=platform.resources) as context:
        return protection_sensor(context)


@pytest.mark.parametrize("platform", ["local"], indirect=True)
def test_a_video_made_premium_is_published_again_encrypted(
    platform: Platform, tmp_path: Path
) -> None:
    source = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0)
    video_id = platform.upload(source, Visibility.PUBLIC)
    platform.sense()
    assert platform.run(video_id, x264_preset="ultrafast").success
    clear = platform.catalog.get_video(video_id)
    assert {a.drm_key_id for a in platform.catalog.list_stream_assets(video_id)} == {None}
    assert isinstance(protection(platform), SkipReason)

    premium = platform.catalog.update_video(video_id, visibility=Visibility.PREMIUM)
    asked, again = protection(platform), protection(platform)

    assert isinstance(asked, SensorResult)
    (request,) = asked.run_requests or []
    assert request.partition_key == str(video_id)
    assert request.run_key == protection_run_key(str(video_id), premium.rights_version)
    assert request.tags == {PARTITION_TAG: str(video_id), VIDEO_TAG: str(video_id)}
    # Every tick asks with the same key, which the daemon launches once.
    assert isinstance(again, SensorResult)
    assert [r.run_key for r in again.run_requests or []] == [request.run_key]

    assert platform.run(video_id, x264_preset="ultrafast").success

    protected = platform.catalog.get_video(video_id)
    assert protected.published_version != clear.published_version
    assets = platform.catalog.list_stream_assets(video_id)
    assert assets and None not in {a.drm_key_id for a in assets}
    assert isinstance(protection(platform), SkipReason)


def test_only_premium_videos_published_in_the_clear_await_protection(catalog: Catalog) -> None:
    owner = catalog.create_user("maker@example.com", "x")
    public, private, waiting = (
        publish(catalog, catalog.create_video(owner.id, title)) for title in "abc"
    )
    catalog.update_video(private.id, visibility=Visibility.PRIVATE)
    catalog.update_video(waiting.id, visibility=Visibility.PREMIUM)
    catalog.update_video(public.id, visibility=Visibility.PUBLIC)

    assert [v.id for v in catalog.list_videos_awaiting_protection()] == [waiting.id]
