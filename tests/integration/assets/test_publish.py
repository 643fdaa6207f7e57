"""The publishing stage: the package under a new version behind the CDN, the video switched to
it in the catalog; processing again publishes another version and keeps the previous one."""

from __future__ import annotations

import pytest

from media import checks
from storage.catalog import EncodingStatus, StreamFormat
from tests.fixtures.lifecycle import CLIP, Lifecycle, Reprocessed


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
