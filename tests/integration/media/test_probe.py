"""probe() against real ffprobe/ffmpeg: good sources described exactly, bad ones rejected."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from media import tools
from media.probe import REJECT_REASONS, Limits, MediaRejected, probe
from media.samples import make_clip, parse_rate
from tests.fixtures.media import BAD_MEDIA, SOURCE_IDS, MediaSource


@pytest.mark.parametrize("media_source", SOURCE_IDS, indirect=True)
def test_probe_describes_source(media_source: MediaSource) -> None:
    case = media_source.case
    info = probe(media_source.path)
    assert (info.width, info.height) == (case.width, case.height)
    assert info.rotation == case.rotation
    if case.rotation in (90, 270):
        assert (info.coded_width, info.coded_height) == (case.height, case.width)
    assert info.fps == case.fps
    assert info.is_vfr is case.is_vfr
    assert info.duration_s == pytest.approx(case.duration_s, abs=0.02)
    assert info.audio_channels == case.audio_channels
    assert info.has_audio is (case.audio_channels > 0)
    assert info.audio_codec == ("aac" if case.audio_channels else None)
    assert info.video_codec == "h264"
    assert info.size_bytes == media_source.path.stat().st_size
    assert "mp4" in info.format_name
    assert info.bit_rate is not None and info.bit_rate > 0


def test_vfr_source_reports_average_below_encode_rate(synthetic_clips: dict[str, Path]) -> None:
    info = probe(synthetic_clips["vfr_640x360"])
    # make_clip drops every fourth frame of a 30 fps grid.
    assert info.avg_fps == pytest.approx(22.5, abs=0.5)
    assert info.fps == 30


@pytest.mark.parametrize(("name", "reason"), sorted(BAD_MEDIA.items()))
def test_bad_inputs_are_rejected_with_their_reason(
    bad_media: dict[str, Path], name: str, reason: str
) -> None:
    with pytest.raises(MediaRejected) as rejected:
        probe(bad_media[name])
    assert rejected.value.reason == reason
    assert rejected.value.reason in REJECT_REASONS
    assert rejected.value.message and str(rejected.value).startswith(f"{reason}: ")
    # What the creator is told names no file of the server; the tool's words are kept apart.
    path = bad_media[name]
    assert str(path.parent) not in str(rejected.value) and path.name not in str(rejected.value)


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (Limits(max_duration_s=1.5), "too_long"),
        (Limits(min_duration_s=5.0), "too_short"),
        (Limits(max_width=1280, max_height=720), "too_large_resolution"),
        (Limits(max_width=1920, max_height=1000), "too_large_resolution"),
    ],
)
def test_limits_are_enforced(clip_1080p: Path, limits: Limits, reason: str) -> None:
    with pytest.raises(MediaRejected) as rejected:
        probe(clip_1080p, limits)
    assert rejected.value.reason == reason


def test_resolution_limit_applies_either_way_round(synthetic_clips: dict[str, Path]) -> None:
    landscape_limit = Limits(max_width=640, max_height=360)
    assert probe(synthetic_clips["portrait_360x640"], landscape_limit).height == 640
    assert probe(synthetic_clips["rotated_phone"], landscape_limit).width == 360
    with pytest.raises(MediaRejected, match="too_large_resolution"):
        probe(synthetic_clips["portrait_360x640"], Limits(max_width=640, max_height=320))


def test_limits_at_the_boundary_accept(clip_1080p: Path) -> None:
    info = probe(clip_1080p, Limits(max_duration_s=2.0, max_width=1920, max_height=1080))
    assert (info.width, info.height) == (1920, 1080)


def test_missing_file_is_an_error_not_a_rejection(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "nope.mp4")


def test_binary_override_and_tool_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clip_small: Path
) -> None:
    monkeypatch.setenv("REELFLOW_FFPROBE", str(tmp_path / "no-such-ffprobe"))
    assert tools.ffprobe() == str(tmp_path / "no-such-ffprobe")
    with pytest.raises(tools.MediaToolError, match="binary not found"):
        probe(clip_small)
    monkeypatch.delenv("REELFLOW_FFPROBE")
    assert tools.ffprobe().endswith("ffprobe-linux-x64")
    with pytest.raises(tools.MediaToolError) as failed:
        tools.run([tools.ffmpeg(), "-v", "error", "-i", tmp_path / "missing.mp4"])
    assert failed.value.returncode != 0
    assert "missing.mp4" in str(failed.value)


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (30, Fraction(30)),
        ("30000/1001", Fraction(30000, 1001)),
        (29.97, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_make_clip_rates(fps: int | float | str, expected: Fraction) -> None:
    assert parse_rate(fps) == expected


def test_make_clip_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_clip(tmp_path / "x.mp4", width=0, height=10, duration_s=1)
    with pytest.raises(ValueError):
        make_clip(tmp_path / "x.mp4", width=10, height=10, duration_s=1, rotation=45)
    assert not (tmp_path / "x.mp4").exists()
