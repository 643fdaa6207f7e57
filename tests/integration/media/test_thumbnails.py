"""Poster, sprite sheets and the WebVTT seek-preview track."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from media import thumbnails, tools
from media.thumbnails import Thumbnails
from tests.fixtures.media_drm import BLACK_INTRO_S, CONTENT_S, ClearLadder

DURATION_S = BLACK_INTRO_S + CONTENT_S
CUE = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n"
    r"(sprite_\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$",
    re.MULTILINE,
)


def image_size(path: Path) -> tuple[int, int]:
    proc = tools.run(
        [tools.ffprobe(), "-v", "error", "-of", "json", "-show_entries", "stream=width,height"]
        + [str(path)]
    )
    stream = json.loads(proc.stdout)["streams"][0]
    return int(stream["width"]), int(stream["height"])


def parse_cues(vtt: Path) -> list[tuple[float, float, str, int, int, int, int]]:
    text = vtt.read_text()
    assert text.startswith("WEBVTT\n\n")
    cues = []
    for m in CUE.finditer(text):
        g = m.groups()
        start = int(g[0]) * 3600 + int(g[1]) * 60 + int(g[2]) + int(g[3]) / 1000
        end = int(g[4]) * 3600 + int(g[5]) * 60 + int(g[6]) + int(g[7]) / 1000
        cues.append((start, end, g[8], int(g[9]), int(g[10]), int(g[11]), int(g[12])))
    assert len(cues) == text.count("-->")
    return cues


def assert_consistent(thumbs: Thumbnails, duration_s: float) -> None:
    cues = parse_cues(thumbs.vtt)
    assert len(cues) == thumbs.tiles
    assert [p.name for p in thumbs.sprites] == [
        f"sprite_{i:03d}.jpg" for i in range(1, len(thumbs.sprites) + 1)
    ]
    sizes = {p.name: image_size(p) for p in thumbs.sprites}
    assert cues[0][0] == 0
    assert cues[-1][1] == pytest.approx(duration_s, abs=0.001)
    for (start, end, *_), (next_start, *_) in zip(cues, cues[1:], strict=False):
        assert start < end == next_start
    for _, _, sprite, x, y, w, h in cues:
        assert (w, h) == (thumbs.tile_width, thumbs.tile_height)
        sheet_w, sheet_h = sizes[sprite]
        assert 0 <= x and x + w <= sheet_w and 0 <= y and y + h <= sheet_h
    # Tiles fill sheets in order: every sheet but the last is full.
    per_sheet = thumbs.columns * thumbs.rows
    used = [sum(1 for c in cues if c[2] == p.name) for p in thumbs.sprites]
    assert used[:-1] == [per_sheet] * (len(used) - 1) and 0 < used[-1] <= per_sheet


def test_poster_skips_the_black_intro(black_intro_clip: Path, tmp_path: Path) -> None:
    thumbs = thumbnails.make_thumbnails(black_intro_clip, DURATION_S, tmp_path / "thumbs")

    stats = thumbnails.frame_stats(thumbs.poster, 0)
    assert thumbs.poster_time_s >= BLACK_INTRO_S
    assert stats.mean > thumbnails.MIN_LUMA_MEAN and stats.spread > thumbnails.MIN_LUMA_SPREAD
    assert image_size(thumbs.poster) == (320, 180)
    # The black opening really is black, so the test would catch a poster taken from it.
    assert not thumbnails.frame_stats(black_intro_clip, 1.0).has_content


def test_sprites_and_vtt_describe_the_tiles_produced(
    black_intro_clip: Path, tmp_path: Path
) -> None:
    thumbs = thumbnails.make_thumbnails(black_intro_clip, DURATION_S, tmp_path / "thumbs")

    assert thumbs.interval_s == 2.0
    assert (thumbs.tile_width, thumbs.tile_height) == (160, 90)
    assert thumbs.tiles == 3
    assert len(thumbs.sprites) == 1
    assert image_size(thumbs.sprites[0]) == (3 * 160, 90)
    assert_consistent(thumbs, DURATION_S)


def test_many_tiles_spread_over_several_sheets(black_intro_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "thumbs"
    out.mkdir()
    (out / "sprite_009.jpg").write_bytes(b"left over from an older run")

    thumbs = thumbnails.make_thumbnails(
        black_intro_clip, DURATION_S, out, interval_s=0.5, columns=2, max_rows=2, tile=(80, 80)
    )

    assert (thumbs.tile_width, thumbs.tile_height) == (80, 46)  # 16:9 inside an 80x80 box
    assert thumbs.tiles == 12
    assert len(thumbs.sprites) == 3
    assert not (out / "sprite_009.jpg").exists()
    assert_consistent(thumbs, DURATION_S)


def test_vtt_covers_the_duration_when_fewer_tiles_come_out(
    clear_ladder: ClearLadder, tmp_path: Path
) -> None:
    # Claim a slightly longer video than the frames reach: the last cue must still reach it.
    claimed = clear_ladder.info.duration_s + 0.4
    thumbs = thumbnails.make_thumbnails(clear_ladder.source, claimed, tmp_path / "thumbs")

    assert thumbs.tiles == 2
    assert_consistent(thumbs, claimed)


def test_flat_video_still_gets_a_poster(tmp_path: Path) -> None:
    clip = tmp_path / "grey.mp4"
    tools.run(
        [tools.ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "color=gray:size=160x120:d=2"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip)]
    )

    thumbs = thumbnails.make_thumbnails(clip, 2.0, tmp_path / "thumbs")

    assert thumbs.poster.stat().st_size > 0
    assert (thumbs.tile_width, thumbs.tile_height) == (120, 90)  # 4:3 keeps its aspect
    assert_consistent(thumbs, 2.0)


@pytest.mark.parametrize(
    ("source", "box", "expected"),
    [
        ((1920, 1080), (160, 90), (160, 90)),
        ((640, 480), (160, 90), (120, 90)),
        ((1080, 1920), (160, 90), (50, 90)),
        ((1920, 800), (160, 90), (160, 66)),
        ((853, 480), (160, 90), (160, 90)),
    ],
)
def test_tile_size_keeps_the_aspect_with_even_sides(
    source: tuple[int, int], box: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert thumbnails.tile_size(source, box) == expected


@pytest.mark.parametrize(
    ("duration", "interval"), [(4, 2.0), (200, 2.0), (300, 3.0), (950, 10.0), (7200, 10.0)]
)
def test_auto_interval(duration: float, interval: float) -> None:
    assert thumbnails.auto_interval(duration) == interval
