"""The thumbnail stage: a poster, scrub sprite sheets and the WebVTT track that maps each
moment of the video to a tile of a sheet."""

from __future__ import annotations

from tests.fixtures.lifecycle import CLIP, Lifecycle


def test_the_poster_sprites_and_track_are_published(published_clip: Lifecycle) -> None:
    clip = published_clip
    video = clip.video
    assert video.thumbnail_url is not None
    assert clip.platform.store.exists(clip.platform.key_of(video.thumbnail_url))
    thumbs = clip.published / "thumbs"
    assert (thumbs / video.thumbnail_url.rsplit("/", 1)[1]).is_file()

    track = (thumbs / "thumbnails.vtt").read_text()
    assert track.startswith("WEBVTT")
    made = clip.metadata("thumbnails")
    assert track.count(" --> ") == made["tiles"] > 0
    sprites = {path.name for path in thumbs.glob("sprite_*.jpg")}
    assert len(sprites) == made["sprites"] > 0
    # Every cue shows a tile of a published sheet.
    tiles = [line for line in track.splitlines() if "#xywh=" in line]
    assert len(tiles) == made["tiles"]
    assert {line.split("#", 1)[0] for line in tiles} == sprites
    assert 0 <= made["poster_time_s"] < CLIP["duration_s"]
