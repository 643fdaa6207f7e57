"""Synthetic test media made with ffmpeg's lavfi sources: for tests, demos and benchmarks.

`make_clip` writes a short H.264 (+ AAC) file whose properties are known exactly, so a test can
assert what the pipeline must make of it. Clips have a one-second GOP so that they seek cheaply.
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

from media import tools

# ffmpeg's names for the usual layouts; any other count becomes an unnamed "<n>c" layout.
CHANNEL_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}
# One tone per channel, so a downmix that drops a channel is audible and measurable.
TONES_HZ = (440, 550, 660, 770, 880, 990, 1100, 1210)
AUDIO_SAMPLE_RATE = 48_000


def parse_rate(fps: int | float | Fraction | str) -> Fraction:
    """A frame rate as a Fraction: `30`, `29.97`, `Fraction(30000, 1001)` or `"30000/1001"`."""
    if isinstance(fps, float):
        ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
        # 29.97 means the NTSC rate 30000/1001, not 2997/100.
        if fps != round(fps) and abs(fps - ntsc) < 0.005:
            rate = ntsc
        else:
            rate = Fraction(fps).limit_denominator(1000)
    else:
        rate = Fraction(fps)
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {fps!r}")
    return rate


def make_clip(
    path: str | os.PathLike[str],
    *,
    width: int,
    height: int,
    duration_s: float,
    fps: int | float | Fraction | str = 30,
    audio_channels: int = 2,
    vfr: bool = False,
    pattern: str = "testsrc2",
    rotation: int = 0,
) -> Path:
    """Write a synthetic clip to `path` (container from its suffix, e.g. `.mp4`) and return it.

    `audio_channels=0` makes a video-only file. `vfr=True` drops every fourth frame and keeps the
    timestamps of the rest, so frame durations alternate between one and two frame periods.
    `rotation` (0, 90, 180, 270; counter-clockwise, as ffprobe reports it) stores a
    display-matrix rotation, as phones do, so the display size is `height x width` for 90 and
    270. Odd dimensions are encoded as 4:4:4, because H.264 4:2:0 cannot represent them.
    """
    if width <= 0 or height <= 0 or duration_s <= 0:
        raise ValueError("width, height and duration_s must be positive")
    if audio_channels < 0:
        raise ValueError("audio_channels must be >= 0")
    if rotation % 90:
        raise ValueError("rotation must be a multiple of 90 degrees")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rate = parse_rate(fps)
    odd = width % 2 or height % 2
    # lavfi sources round their size down to even; draw larger and crop in 4:4:4 instead.
    size = f"{width + width % 2}x{height + height % 2}"
    source = f"{pattern}{':' if '=' in pattern else '='}size={size}:rate={rate}"
    cmd: list[str] = [tools.ffmpeg(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
    cmd += ["-f", "lavfi", "-i", source]
    if audio_channels:
        cmd += ["-f", "lavfi", "-i", _tone_source(audio_channels)]
    filters = [f"format=yuv444p,crop={width}:{height}:0:0"] if odd else []
    if vfr:
        filters.append("select='not(eq(mod(n\\,4)\\,1))'")
    video_filter = ",".join(filters) or "null"
    cmd += ["-vf", video_filter, "-fps_mode", "vfr" if vfr else "cfr"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "28"]
    cmd += ["-pix_fmt", "yuv444p" if odd else "yuv420p"]
    gop = max(1, round(rate))
    cmd += ["-g", str(gop), "-keyint_min", str(gop)]
    if audio_channels:
        cmd += ["-c:a", "aac", "-b:a", f"{64 * min(audio_channels, 6)}k"]
    cmd += ["-t", f"{duration_s:.6f}", "-movflags", "+faststart"]
    if not rotation % 360:
        tools.run([*cmd, str(out)])
        return out
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        unrotated = Path(tmp) / f"unrotated{out.suffix}"
        tools.run([*cmd, str(unrotated)])
        # The display matrix is an input-side option: it is attached on a stream copy.
        tools.run(
            [tools.ffmpeg(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
            + ["-display_rotation:v:0", str(rotation % 360), "-i", str(unrotated)]
            + ["-map", "0", "-c", "copy", "-movflags", "+faststart", str(out)]
        )
    return out


def _tone_source(channels: int) -> str:
    exprs = "|".join(f"0.2*sin({TONES_HZ[i % len(TONES_HZ)]}*2*PI*t)" for i in range(channels))
    layout = CHANNEL_LAYOUTS.get(channels, f"{channels}c")
    return f"aevalsrc={exprs}:c={layout}:s={AUDIO_SAMPLE_RATE}"
