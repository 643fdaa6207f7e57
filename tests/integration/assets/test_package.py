"""The packaging stage: HLS playlists and a DASH manifest over one set of CMAF segments."""

from __future__ import annotations

from storage.catalog import StreamFormat
from tests.fixtures.lifecycle import Lifecycle


def test_hls_and_dash_share_one_set_of_segments(published_clip: Lifecycle) -> None:
    clip = published_clip
    packaged = clip.metadata("packaged_streams")
    rungs = {asset.height for asset in clip.assets}
    assert packaged["hls_variants"] == len(rungs)
    assert packaged["shared_segments"] == packaged["media_files"] > 0
    assert packaged["dash_manifest"].endswith(".mpd")
    assert packaged["hls_master"].endswith(".m3u8")


def test_every_rung_is_published_in_both_formats(published_clip: Lifecycle) -> None:
    assets = published_clip.assets
    assert {a.format for a in assets} == {StreamFormat.HLS, StreamFormat.DASH}
    for stream_format, suffix in ((StreamFormat.HLS, ".m3u8"), (StreamFormat.DASH, ".mpd")):
        urls = [a.cdn_url for a in assets if a.format == stream_format]
        assert urls and all(url.endswith(suffix) for url in urls)
    # Every rung of the DASH format points at the one manifest that lists them all.
    assert len({a.cdn_url for a in assets if a.format == StreamFormat.DASH}) == 1


def test_the_manifests_pass_their_check(published_clip: Lifecycle) -> None:
    assert published_clip.checks("packaged_streams") == {"packaged_manifests_resolve": True}
