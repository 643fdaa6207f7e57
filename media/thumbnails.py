"""A poster frame, seek-preview sprite sheets and the WebVTT track that indexes them.

The poster is the first of a few candidate frames (10%, 25%, 50%, 75% of the video) that is
neither black, blank nor flat, judged by the mean and spread of its luma; a video that opens on
black or a title card still gets a representative poster.

Sprite sheets hold one tile every `interval_s`, `columns` wide and up to `max_rows` high. The
WebVTT cues are written from the tiles ffmpeg actually produced (counted in the same run), not
from `duration / interval`: the `fps` filter may emit one fewer tile than that arithmetic says.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from media import tools
from reelflow import layout

POSTER_CANDIDATES = (0.10, 0.25, 0.50, 0.75)
POSTER_MAX_SIDE = 1280
# Limited-range luma: black is 16, white 235. A frame darker or brighter than these on average,
# or whose luma spreads less than MIN_LUMA_SPREAD, is black, blank or flat (a fade, a colour).
MIN_LUMA_MEAN = 32.0
MAX_LUMA_MEAN = 225.0
MIN_LUMA_SPREAD = 16.0
MIN_INTERVAL_S = 2.0
MAX_INTERVAL_S = 10.0
# The automatic interval keeps short videos at one tile per 2 s and long ones near 100 tiles.
TARGET_TILES = 100
JPEG_QUALITY = "3"  # mjpeg qscale: 2 (best) .. 31; the pinned ffmpeg has no PNG encoder
TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class FrameStats:
    """Luma of one candidate poster frame: mean, and spread between its 10th and 90th centile."""

    time_s: float
    mean: float
    spread: float

    @property
    def has_content(self) -> bool:
        return MIN_LUMA_MEAN <= self.mean <= MAX_LUMA_MEAN and self.spread >= MIN_LUMA_SPREAD


@dataclass(frozen=True)
class Thumbnails:
    """What `make_thumbnails` wrote; all paths are inside its `out_dir`."""

    poster: Path
    poster_time_s: float
    sprites: list[Path]
    vtt: Path
    tiles: int
    interval_s: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int


def auto_interval(duration_s: float) -> float:
    """Seconds between tiles: 2 s up to 200 s of video, then longer, at most 10 s."""
    return float(min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, math.ceil(duration_s / TARGET_TILES))))


def tile_size(source_size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The even-sized tile that keeps the source's aspect and fits in `box` (width, height).

    Landscape sources as wide as 16:9 or wider take the box's full width.
    """
    src_w, src_h = source_size
    box_w, box_h = box
    if src_w <= 0 or src_h <= 0 or box_w <= 0 or box_h <= 0:
        raise ValueError(f"sizes must be positive: source {source_size}, box {box}")
    if src_w * box_h >= box_w * src_h:
        return _even(box_w), _even(box_w * src_h / src_w)
    return _even(box_h * src_w / src_h), _even(box_h)


def webvtt(
    tiles: int,
    *,
    interval_s: float,
    duration_s: float,
    tile: tuple[int, int],
    columns: int,
    rows: int,
    sprite_names: list[str],
) -> str:
    """WebVTT cues `sprite_NNN.jpg#xywh=x,y,w,h` for `tiles` tiles, covering [0, duration]."""
    tile_w, tile_h = tile
    per_sheet = columns * rows
    lines = ["WEBVTT", ""]
    for index in range(tiles):
        start = index * interval_s
        end = (index + 1) * interval_s
        if index == tiles - 1 and duration_s > start:
            # The last tile stands for the rest of the video, however few tiles were made.
            end = duration_s
        sheet, slot = divmod(index, per_sheet)
        row, column = divmod(slot, columns)
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{sprite_names[sheet]}#xywh={column * tile_w},{row * tile_h},{tile_w},{tile_h}",
            "",
        ]
    return "\n".join(lines)


def make_thumbnails(
    source: Path,
    info_duration_s: float,
    out_dir: Path,
    *,
    interval_s: float | None = None,
    tile: tuple[int, int] = (160, 90),
    columns: int = 10,
    max_rows: int = 10,
    source_size: tuple[int, int] | None = None,
) -> Thumbnails:
    """Write `poster.jpg`, `sprite_001.jpg`… and `thumbnails.vtt` for `source` into `out_dir`.

    `tile` is the box each tile fits in, keeping the source's display aspect with even sides;
    `source_size` is the display size (`SourceInfo.width, .height`), probed when not given.
    """
    if info_duration_s <= 0:
        raise ValueError("info_duration_s must be positive")
    if columns < 1 or max_rows < 1:
        raise ValueError("columns and max_rows must be at least 1")
    interval = interval_s if interval_s is not None else auto_interval(info_duration_s)
    if interval <= 0:
        raise ValueError("interval_s must be positive")
    size = source_size or _display_size(source)
    tile_w, tile_h = tile_size(size, tile)
    out_dir.mkdir(parents=True, exist_ok=True)

    candidates = [frame_stats(source, f * info_duration_s) for f in POSTER_CANDIDATES]
    chosen = next((c for c in candidates if c.has_content), None)
    if chosen is None:
        chosen = max(candidates, key=lambda c: c.spread)
    poster = out_dir / layout.POSTER_NAME
    poster_w, poster_h = tile_size(size, (POSTER_MAX_SIDE, POSTER_MAX_SIDE))
    if size[0] <= POSTER_MAX_SIDE and size[1] <= POSTER_MAX_SIDE:
        poster_w, poster_h = _even(size[0]), _even(size[1])
    tools.run(
        [tools.ffmpeg(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
        + ["-ss", f"{chosen.time_s:.3f}", *tools.local_input(source), "-map", "0:v:0"]
        + ["-frames:v", "1"]
        + ["-vf", f"scale={poster_w}:{poster_h},setsar=1", "-q:v", "2", str(poster)],
        timeout=TIMEOUT_S,
    )
    # ffmpeg exits 0 with no output when the seek lands past the last frame.
    if not poster.is_file() or poster.stat().st_size == 0:
        raise tools.MediaToolError(["ffmpeg"], 0, f"no frame at {chosen.time_s:.3f} s for poster")

    expected = max(1, math.ceil(info_duration_s / interval))
    rows = min(max_rows, math.ceil(expected / columns))
    cols = min(columns, expected)
    # Sheets from an earlier run with more tiles would otherwise outlive it.
    for stale in out_dir.glob(layout.SPRITE_GLOB):
        stale.unlink()
    graph = (
        f"[0:v:0]fps=1/{interval:g},scale={tile_w}:{tile_h},setsar=1,split[sheet][count];"
        f"[sheet]tile={cols}x{rows}[sprites]"
    )
    proc = tools.run(
        [tools.ffmpeg(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
        + tools.local_input(source)
        + ["-filter_complex", graph]
        + ["-map", "[sprites]", "-q:v", JPEG_QUALITY, str(out_dir / layout.SPRITE_PATTERN)]
        + ["-map", "[count]", "-f", "framemd5", "-"],
        timeout=TIMEOUT_S,
    )
    tiles = sum(1 for line in proc.stdout.splitlines() if line and not line.startswith("#"))
    sprites = sorted(out_dir.glob(layout.SPRITE_GLOB))
    if tiles == 0 or len(sprites) != math.ceil(tiles / (cols * rows)):
        raise tools.MediaToolError(
            ["ffmpeg"], 0, f"{tiles} tiles but {len(sprites)} sprite sheets in {out_dir}"
        )
    vtt = out_dir / layout.VTT_NAME
    vtt.write_text(
        webvtt(
            tiles,
            interval_s=interval,
            duration_s=info_duration_s,
            tile=(tile_w, tile_h),
            columns=cols,
            rows=rows,
            sprite_names=[s.name for s in sprites],
        )
    )
    return Thumbnails(
        poster=poster,
        poster_time_s=chosen.time_s,
        sprites=sprites,
        vtt=vtt,
        tiles=tiles,
        interval_s=interval,
        tile_width=tile_w,
        tile_height=tile_h,
        columns=cols,
        rows=rows,
    )


def frame_stats(source: Path, time_s: float) -> FrameStats:
    """Luma statistics (ffmpeg `signalstats`) of the frame shown at `time_s`."""
    cmd = [tools.ffmpeg(), "-hide_banner", "-nostdin", "-v", "error"]
    if time_s > 0:
        # Not at 0: a seek on a still image (the written poster) yields no frame at all.
        cmd += ["-ss", f"{time_s:.3f}"]
    cmd += [*tools.local_input(source), "-map", "0:v:0", "-frames:v", "1"]
    cmd += ["-vf", "signalstats,metadata=mode=print:file=-", "-f", "null", "-"]
    proc = tools.run(cmd, timeout=TIMEOUT_S)
    values: dict[str, float] = {}
    for line in proc.stdout.splitlines():
        name, _, value = line.strip().removeprefix("lavfi.signalstats.").partition("=")
        # The first frame's values: the filter may print a second frame before ffmpeg stops.
        if name in ("YAVG", "YLOW", "YHIGH") and name not in values:
            values[name] = float(value)
    if len(values) < 3:
        # Past the last frame nothing decodes: count it as black.
        return FrameStats(time_s, 0.0, 0.0)
    return FrameStats(time_s, values["YAVG"], values["YHIGH"] - values["YLOW"])


def _display_size(source: Path) -> tuple[int, int]:
    proc = tools.run(
        [tools.ffprobe(), "-v", "error", "-select_streams", "v:0", "-of", "json"]
        + ["-show_entries", "stream=width,height,sample_aspect_ratio:stream_side_data=rotation"]
        + tools.local_probe_input(source),
        timeout=TIMEOUT_S,
    )
    streams = json.loads(proc.stdout or "{}").get("streams", [])
    if not streams:
        raise tools.MediaToolError([str(source)], -1, "no video stream")
    stream = streams[0]
    width, height = int(stream["width"]), int(stream["height"])
    sar = str(stream.get("sample_aspect_ratio") or "1:1")
    num, _, den = sar.partition(":")
    if num.isdigit() and den.isdigit() and int(num) > 0 and int(den) > 0:
        width = round(width * int(num) / int(den))
    rotation = next(
        (int(s["rotation"]) for s in stream.get("side_data_list", []) if "rotation" in s), 0
    )
    if rotation % 180:
        width, height = height, width
    return width, height


def _even(value: float) -> int:
    # Half up, not Python's half-to-even: 45 becomes 46, as a person would round it.
    return max(2, 2 * math.floor(value / 2 + 0.5))


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"
