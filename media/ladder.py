"""Plan the rendition ladder of a source: which sizes and bitrates to encode it at.

Pure arithmetic on a `SourceInfo`; nothing here runs ffmpeg.

Every rung has *exactly* the same width/height ratio, with square pixels and even dimensions,
because players switch between rungs inside one adaptation set and ffmpeg's DASH muxer refuses
rungs whose aspect ratios differ. That ratio is the source's display aspect when it is a simple
fraction (16:9, 4:3, 64:27 ...), else the simplest fraction within 1% of it (so 853x479 is
planned as 16:9); the top rung may then be stretched by at most that 1%.
Rung sizes therefore sit on a grid of `(2*p*k, 2*q*k)` for aspect `p/q`. A rung class such as
`480p` takes the largest grid point whose short side is at most 480; the ladder never exceeds
the source, and a source smaller than the smallest class gets one rung at its own size (rounded
down to even).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from media.probe import SourceInfo

# Short-side classes (the "p" number), smallest first.
RUNG_CLASSES = (240, 360, 480, 720, 1080)
# A source this close below a class still gets that class, at the largest size it can fill.
CLASS_FILL_RATIO = 0.9
ASPECT_TOLERANCE = 0.01
# An exact aspect p/q is kept when rung short sides can step by at most this (2*min(p, q)):
# 16:9 steps by 18 pixels, 64:27 by 54; 853:479 would step by 958 and is approximated.
MAX_GRID_STEP = 60
MAX_ASPECT_DENOMINATOR = 64
MAX_FPS = Fraction(60)

# Bitrate grows slower than pixel count; anchored at 1080p30 = 6 Mb/s, this curve gives about
# 3.0 / 1.45 / 0.93 / 0.45 Mb/s at 720p / 480p / 360p / 240p, near Apple's HLS authoring spec.
REFERENCE_PIXELS = 1920 * 1080
REFERENCE_BITRATE = 6_000_000
BITRATE_EXPONENT = 0.85
HIGH_FPS_FACTOR = 1.5
MIN_VIDEO_BITRATE = 100_000
BITRATE_STEP = 10_000
MAXRATE_FACTOR = 1.5
BUFSIZE_FACTOR = 3.0  # two seconds at maxrate

AUDIO_BITRATE = 128_000
AUDIO_CHANNELS = 2
AUDIO_SAMPLE_RATE = 48_000
AUDIO_CODECS = "mp4a.40.2"

H264_PROFILE = "high"
H264_PROFILE_IDC = 0x64
# (level, max frame size in macroblocks, max macroblocks per second, max High-profile bit/s)
H264_LEVELS = (
    ("3.0", 1_620, 40_500, 12_500_000),
    ("3.1", 3_600, 108_000, 17_500_000),
    ("3.2", 5_120, 216_000, 25_000_000),
    ("4.0", 8_192, 245_760, 25_000_000),
    ("4.1", 8_192, 245_760, 62_500_000),
    ("4.2", 8_704, 522_240, 62_500_000),
    ("5.0", 22_080, 589_824, 168_750_000),
    ("5.1", 36_864, 983_040, 300_000_000),
    ("5.2", 36_864, 2_073_600, 300_000_000),
)


@dataclass(frozen=True)
class Rung:
    """One rendition: an H.264 size and bitrate (bits per second)."""

    name: str
    width: int
    height: int
    video_bitrate: int
    maxrate: int
    bufsize: int
    profile: str
    level: str
    audio_bitrate: int  # of the shared audio rendition; 0 for video-only sources

    @property
    def codecs(self) -> str:
        """RFC 6381 codecs string as in an HLS `CODECS` attribute, e.g. `avc1.64001f,mp4a.40.2`."""
        level_idc = round(float(self.level) * 10)
        video = f"avc1.{H264_PROFILE_IDC:02x}00{level_idc:02x}"
        return f"{video},{AUDIO_CODECS}" if self.audio_bitrate else video

    @property
    def bandwidth(self) -> int:
        """Peak bit rate of the variant (video maxrate plus audio), for HLS `BANDWIDTH`."""
        return self.maxrate + self.audio_bitrate


@dataclass(frozen=True)
class Ladder:
    """Every rung of one source plus what they share: frame rate, GOP and audio."""

    rungs: tuple[Rung, ...]
    aspect: Fraction
    fps: Fraction
    gop_frames: int
    audio_bitrate: int
    audio_channels: int
    audio_sample_rate: int

    @property
    def segment_duration_s(self) -> float:
        """Actual segment length: a whole number of frames, so it can differ from the request."""
        return float(self.gop_frames / self.fps)

    @property
    def has_audio(self) -> bool:
        return self.audio_channels > 0


def plan_ladder(info: SourceInfo, segment_s: float = 2.0) -> Ladder:
    """The ladder for `info`: classes up to the source size, one GOP per `segment_s` segment."""
    if segment_s <= 0:
        raise ValueError("segment_s must be positive")
    fps = output_fps(info.fps)
    audio_bitrate = AUDIO_BITRATE if info.has_audio else 0
    sizes = rung_sizes(ladder_aspect(info.aspect), info.width, info.height)
    rungs = tuple(_rung(name, width, height, fps, audio_bitrate) for name, width, height in sizes)
    return Ladder(
        rungs=rungs,
        aspect=Fraction(rungs[0].width, rungs[0].height),
        fps=fps,
        gop_frames=max(1, round(segment_s * fps)),
        audio_bitrate=audio_bitrate,
        audio_channels=AUDIO_CHANNELS if info.has_audio else 0,
        audio_sample_rate=AUDIO_SAMPLE_RATE,
    )


def ladder_aspect(aspect: Fraction) -> Fraction:
    """The aspect every rung gets: `aspect` itself if its size grid is fine enough for the
    rung classes, otherwise the simplest fraction within `ASPECT_TOLERANCE` of it."""
    if 2 * min(aspect.numerator, aspect.denominator) <= MAX_GRID_STEP:
        return aspect
    for denominator in range(1, MAX_ASPECT_DENOMINATOR + 1):
        candidate = aspect.limit_denominator(denominator)
        if abs(candidate / aspect - 1) <= ASPECT_TOLERANCE:
            return candidate
    return aspect.limit_denominator(MAX_ASPECT_DENOMINATOR)


def output_fps(source_fps: Fraction) -> Fraction:
    """The source rate, halved until it is at most 60 so frames are dropped evenly."""
    fps = source_fps
    while fps > MAX_FPS:
        fps /= 2
    return fps


def rung_sizes(aspect: Fraction, max_width: int, max_height: int) -> list[tuple[str, int, int]]:
    """(name, width, height) of each rung for an `aspect` grid inside max_width x max_height."""
    step_w, step_h = 2 * aspect.numerator, 2 * aspect.denominator
    step_short = min(step_w, step_h)
    k_max = min(max_width // step_w, max_height // step_h)  # largest grid point in the source
    source_short = min(max_width, max_height)
    sizes: list[tuple[str, int, int]] = []
    previous_k = 0
    for short_side in RUNG_CLASSES:
        k = short_side // step_short
        if k > k_max:
            if source_short < CLASS_FILL_RATIO * short_side:
                break
            k = k_max
        if k > previous_k:
            sizes.append((f"{short_side}p", k * step_w, k * step_h))
            previous_k = k
    if not sizes:
        # A single rung has nothing to match, so it skips the grid: the source rounded to even.
        width, height = max(2, max_width - max_width % 2), max(2, max_height - max_height % 2)
        sizes.append((f"{min(width, height)}p", width, height))
    return sizes


def _rung(name: str, width: int, height: int, fps: Fraction, audio_bitrate: int) -> Rung:
    video_bitrate = _video_bitrate(width * height, fps)
    maxrate = round(video_bitrate * MAXRATE_FACTOR)
    return Rung(
        name=name,
        width=width,
        height=height,
        video_bitrate=video_bitrate,
        maxrate=maxrate,
        bufsize=round(video_bitrate * BUFSIZE_FACTOR),
        profile=H264_PROFILE,
        level=h264_level(width, height, fps, maxrate),
        audio_bitrate=audio_bitrate,
    )


def _video_bitrate(pixels: int, fps: Fraction) -> int:
    bitrate = REFERENCE_BITRATE * (pixels / REFERENCE_PIXELS) ** BITRATE_EXPONENT
    if fps > 30:
        bitrate *= HIGH_FPS_FACTOR
    return max(MIN_VIDEO_BITRATE, round(bitrate / BITRATE_STEP) * BITRATE_STEP)


def h264_level(width: int, height: int, fps: Fraction, maxrate: int) -> str:
    """The lowest H.264 level from 3.0 up that allows this size, rate and peak bitrate."""
    frame_mbs = math.ceil(width / 16) * math.ceil(height / 16)
    mbs_per_s = frame_mbs * fps
    for level, max_fs, max_mbps, max_br in H264_LEVELS:
        if frame_mbs <= max_fs and mbs_per_s <= max_mbps and maxrate <= max_br:
            return level
    raise ValueError(f"{width}x{height} at {fps} fps exceeds H.264 level 5.2")
