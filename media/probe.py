"""Validate an uploaded source file and describe it: the first stage of every video's lifecycle.

`probe` either returns a `SourceInfo` or raises `MediaRejected` whose `reason` is one of the
stable codes in `REJECT_REASONS`; the API and the catalog store the code, people read the
message. Checks run cheapest first, and the decode check (the only one that reads the picture
data) runs last.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from statistics import median
from typing import Any, Literal, get_args

from media import tools
from media.containers import HEAD_BYTES, sniff_container

RejectReason = Literal[
    "empty_file",
    "not_media",
    "no_video_stream",
    "image_not_video",
    "corrupt",
    "too_short",
    "too_long",
    "too_large_resolution",
]
REJECT_REASONS: tuple[RejectReason, ...] = get_args(RejectReason)

# ffmpeg reads any .txt/.ans file as "tty" ANSI art: a video stream made of text.
TEXT_FORMATS = frozenset({"tty"})
TEXT_VIDEO_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})
# ffmpeg's demuxers for still images: image2 (by file name) and the `*_pipe` family (by content).
IMAGE_FORMATS = frozenset({"image2", "image2pipe"})
IMAGE_FORMAT_SUFFIX = "_pipe"
# Magic numbers of containers we would accept: a file starting with one that ffprobe cannot
# open is a damaged video, not some other kind of file.
# Rates a variable-frame-rate source is snapped to when its nominal rate is within 3% of one.
STANDARD_RATES = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
    Fraction(120),
)
MAX_PLAUSIBLE_RATE = Fraction(240)
# Frame intervals further than this from their median mean the frame rate varies.
VFR_TOLERANCE = 0.1
VFR_SCAN_S = 10.0
# Sources up to this long are decoded completely; longer ones at their start and end only.
FULL_DECODE_MAX_S = 30.0
DECODE_WINDOW_S = 3.0
PROBE_TIMEOUT_S = 120.0
DECODE_TIMEOUT_S = 600.0


class MediaRejected(ValueError):
    """The file cannot become a video; `reason` is a stable code from `REJECT_REASONS`.

    `str()` is what the creator is told: the code and a sentence. `detail` is the tool's own
    output (it names files on the server), for the run's log only.
    """

    def __init__(self, reason: RejectReason, message: str = "", *, detail: str = "") -> None:
        self.reason = reason
        self.message = message or reason.replace("_", " ")
        self.detail = detail
        super().__init__(f"{reason}: {self.message}")


@dataclass(frozen=True)
class Limits:
    """What an upload may be. Resolution limits apply whichever way round the picture is."""

    max_duration_s: float = 4 * 3600
    max_width: int = 7680
    max_height: int = 4320
    min_duration_s: float = 0.5


@dataclass(frozen=True)
class SourceInfo:
    """What the rest of the pipeline needs to know about a validated source."""

    duration_s: float
    width: int  # display width: after rotation and sample aspect ratio
    height: int  # display height, after rotation
    coded_width: int
    coded_height: int
    rotation: int  # display-matrix rotation in degrees: 0, 90, 180 or 270
    sar: Fraction  # sample (pixel) aspect ratio of the coded picture
    fps: Fraction  # the constant rate to encode at (snapped nominal rate for VFR sources)
    avg_fps: Fraction
    is_vfr: bool
    video_codec: str
    pix_fmt: str
    audio_codec: str | None
    audio_channels: int
    audio_sample_rate: int | None
    size_bytes: int
    format_name: str
    bit_rate: int | None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def aspect(self) -> Fraction:
        """Exact display aspect ratio, width / height (`width` itself is rounded)."""
        aspect = Fraction(self.coded_width, self.coded_height) * self.sar
        return 1 / aspect if self.rotation in (90, 270) else aspect


DEFAULT_LIMITS = Limits()


def probe(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> SourceInfo:
    """Validate `path` against `limits` and return what it holds, or raise `MediaRejected`."""
    src = Path(path)
    size = src.stat().st_size
    if size == 0:
        raise MediaRejected("empty_file", "the file is empty (0 bytes)")
    data = _ffprobe(src)
    fmt = data.get("format", {})
    format_name = str(fmt.get("format_name", ""))
    if format_name in IMAGE_FORMATS or format_name.endswith(IMAGE_FORMAT_SUFFIX):
        raise MediaRejected("image_not_video", f"the file is a still image ({format_name})")
    streams: list[dict[str, Any]] = data.get("streams", [])
    video = _first(streams, "video")
    audio = _first(streams, "audio")
    if format_name in TEXT_FORMATS or (video and video.get("codec_name") in TEXT_VIDEO_CODECS):
        raise MediaRejected("not_media", f"the file is text, not video ({format_name})")
    if video is None and audio is None:
        # Subtitles, data or attachments only.
        raise MediaRejected("not_media", "the file holds no audio or video")
    if video is None:
        raise MediaRejected("no_video_stream", "the file has audio but no video stream")

    duration = _float(fmt.get("duration")) or _float(video.get("duration"))
    if duration is None:
        raise MediaRejected("corrupt", "the duration of the file cannot be determined")
    coded_w, coded_h = int(video.get("width") or 0), int(video.get("height") or 0)
    if coded_w <= 0 or coded_h <= 0:
        raise MediaRejected("corrupt", "the video stream has no picture size")
    rotation = _rotation(video)
    sar = _ratio(video.get("sample_aspect_ratio")) or Fraction(1)
    display_w, display_h = max(1, round(coded_w * sar)), coded_h
    if rotation in (90, 270):
        display_w, display_h = display_h, display_w

    if duration < limits.min_duration_s:
        raise MediaRejected(
            "too_short", f"the video lasts {duration:.2f} s, under {limits.min_duration_s:g} s"
        )
    if duration > limits.max_duration_s:
        raise MediaRejected(
            "too_long", f"the video lasts {duration:.0f} s, over {limits.max_duration_s:g} s"
        )
    long_side, short_side = max(display_w, display_h), min(display_w, display_h)
    if long_side > max(limits.max_width, limits.max_height) or short_side > min(
        limits.max_width, limits.max_height
    ):
        raise MediaRejected(
            "too_large_resolution",
            f"the picture is {display_w}x{display_h}, over {limits.max_width}x{limits.max_height}",
        )

    nominal = _ratio(video.get("r_frame_rate"))
    avg = _ratio(video.get("avg_frame_rate"))
    is_vfr = _is_vfr(src, nominal, avg)
    fps = _encode_rate(nominal, avg, is_vfr)
    _check_decodes(src, duration)
    return SourceInfo(
        duration_s=duration,
        width=display_w,
        height=display_h,
        coded_width=coded_w,
        coded_height=coded_h,
        rotation=rotation,
        sar=sar,
        fps=fps,
        avg_fps=avg or fps,
        is_vfr=is_vfr,
        video_codec=str(video.get("codec_name", "")),
        pix_fmt=str(video.get("pix_fmt", "")),
        audio_codec=str(audio.get("codec_name", "")) if audio else None,
        audio_channels=int(audio.get("channels") or 0) if audio else 0,
        audio_sample_rate=_int(audio.get("sample_rate")) if audio else None,
        size_bytes=size,
        format_name=format_name,
        bit_rate=_int(fmt.get("bit_rate")),
    )


def _ffprobe(src: Path) -> dict[str, Any]:
    proc = tools.run(
        [tools.ffprobe(), "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
        + tools.local_probe_input(src),
        check=False,
        timeout=PROBE_TIMEOUT_S,
    )
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["unreadable"])[-1]
        if _looks_like_container(src):
            raise MediaRejected("corrupt", "the file is damaged or truncated", detail=detail)
        raise MediaRejected("not_media", "the file is not audio or video", detail=detail)
    data: dict[str, Any] = json.loads(proc.stdout or "{}")
    if not data.get("streams"):
        raise MediaRejected("not_media", "the file holds no audio or video streams")
    return data


def _looks_like_container(src: Path) -> bool:
    with src.open("rb") as f:
        return sniff_container(f.read(HEAD_BYTES)) is not None


def _first(streams: list[dict[str, Any]], codec_type: str) -> dict[str, Any] | None:
    for stream in streams:
        # Cover art in audio files is a one-picture "video" stream marked as attached.
        if stream.get("codec_type") == codec_type and not stream.get("disposition", {}).get(
            "attached_pic"
        ):
            return stream
    return None


def _float(value: object) -> float | None:
    try:
        result = float(str(value))
    except ValueError:
        return None
    return result if result == result and result > 0 else None  # rejects NaN too


def _int(value: object) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and int(text) > 0 else None


def _ratio(value: object) -> Fraction | None:
    text = str(value or "").replace(":", "/")
    try:
        ratio = Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None
    return ratio if ratio > 0 else None


def _rotation(video: dict[str, Any]) -> int:
    degrees: object = video.get("tags", {}).get("rotate", 0)
    for side_data in video.get("side_data_list", []):
        if "rotation" in side_data:
            degrees = side_data["rotation"]
    return round(float(str(degrees))) % 360


def _is_vfr(src: Path, nominal: Fraction | None, avg: Fraction | None) -> bool:
    # Containers only declare rates; the timestamps of the first seconds show whether they hold.
    proc = tools.run(
        [tools.ffprobe(), "-v", "error", "-select_streams", "v:0"]
        + ["-read_intervals", f"%+{VFR_SCAN_S:g}", "-show_entries", "packet=pts"]
        + ["-of", "csv=p=0", *tools.local_probe_input(src)],
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    pts = sorted(int(line) for line in proc.stdout.split() if line.lstrip("-").isdigit())
    deltas = [b - a for a, b in zip(pts, pts[1:], strict=False) if b > a]
    if len(deltas) >= 2:
        typical = median(deltas)
        if any(abs(d - typical) > VFR_TOLERANCE * typical for d in deltas):
            return True
    # A rate change after the scanned window still shows in the whole-file average.
    return bool(nominal and avg and abs(avg / nominal - 1) > 0.05)


def _encode_rate(nominal: Fraction | None, avg: Fraction | None, is_vfr: bool) -> Fraction:
    plausible = nominal if nominal and nominal <= MAX_PLAUSIBLE_RATE else None
    if not is_vfr:
        rate = plausible or avg
        if rate is None:
            raise MediaRejected("corrupt", "the video stream has no frame rate")
        return rate
    # The nominal rate of a VFR file is the grid its frames sit on, when it is not a timebase.
    if plausible and (avg is None or plausible >= avg):
        rate = plausible
    elif avg:
        rate = avg
    else:
        raise MediaRejected("corrupt", "the video stream has no frame rate")
    nearest = min(STANDARD_RATES, key=lambda std: abs(std - rate))
    if abs(nearest / rate - 1) <= 0.03:
        return nearest
    return Fraction(max(1, round(rate)))


def _check_decodes(src: Path, duration: float) -> None:
    if duration <= FULL_DECODE_MAX_S:
        _decode(src, start=None, length=None)
        return
    _decode(src, start=None, length=DECODE_WINDOW_S)
    _decode(src, start=max(0.0, duration - DECODE_WINDOW_S), length=None)


def _decode(src: Path, *, start: float | None, length: float | None) -> None:
    cmd = [tools.ffmpeg(), "-hide_banner", "-nostdin", "-v", "error"]
    if start is not None:
        cmd += ["-ss", f"{start:.3f}"]
    cmd += [*tools.local_input(src), "-map", "0:v:0"]
    if length is not None:
        cmd += ["-t", f"{length:.3f}"]
    cmd += ["-progress", "pipe:1", "-nostats", "-f", "null", "-"]
    proc = tools.run(cmd, check=False, timeout=DECODE_TIMEOUT_S)
    where = "start" if start is None else f"end (from {start:.1f} s)"
    if proc.returncode != 0 or proc.stderr.strip():
        detail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise MediaRejected("corrupt", f"the video does not decode at its {where}", detail=detail)
    frames = [line for line in proc.stdout.splitlines() if line.startswith("frame=")]
    # A truncated file keeps its index: seeking past the cut gives no error, just no frames.
    if not frames or frames[-1] == "frame=0":
        raise MediaRejected("corrupt", f"no picture decodes at the {where} of the video")
