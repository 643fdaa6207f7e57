"""Ladder planning is pure arithmetic on a SourceInfo: no ffmpeg here."""

from __future__ import annotations

from fractions import Fraction

import pytest

from media.ladder import (
    CLASS_FILL_RATIO,
    Ladder,
    h264_level,
    ladder_aspect,
    output_fps,
    plan_ladder,
)
from media.probe import SourceInfo

LADDER_16_9 = [(416, 234), (640, 360), (832, 468), (1280, 720), (1920, 1080)]
LADDER_4_3 = [(320, 240), (480, 360), (640, 480), (960, 720), (1440, 1080)]
LADDER_9_16 = [(h, w) for w, h in LADDER_16_9]


def source(
    width: int,
    height: int,
    *,
    fps: Fraction = Fraction(30),
    audio_channels: int = 2,
    rotation: int = 0,
    sar: Fraction = Fraction(1),
) -> SourceInfo:
    """A SourceInfo for a coded `width` x `height` picture, as probe would report it."""
    display_w, display_h = round(width * sar), height
    if rotation in (90, 270):
        display_w, display_h = display_h, display_w
    return SourceInfo(
        duration_s=10.0,
        width=display_w,
        height=display_h,
        coded_width=width,
        coded_height=height,
        rotation=rotation,
        sar=sar,
        fps=fps,
        avg_fps=fps,
        is_vfr=False,
        video_codec="h264",
        pix_fmt="yuv420p",
        audio_codec="aac" if audio_channels else None,
        audio_channels=audio_channels,
        audio_sample_rate=48000 if audio_channels else None,
        size_bytes=1,
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        bit_rate=None,
    )


def dims(ladder: Ladder) -> list[tuple[int, int]]:
    return [(rung.width, rung.height) for rung in ladder.rungs]


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        pytest.param(source(1920, 1080), LADDER_16_9, id="1080p"),
        pytest.param(source(3840, 2160), LADDER_16_9, id="2160p-capped-at-1080p"),
        pytest.param(source(1280, 720), LADDER_16_9[:4], id="720p"),
        pytest.param(source(640, 360), LADDER_16_9[:2], id="360p"),
        pytest.param(source(1440, 1080), LADDER_4_3, id="4:3-1080"),
        pytest.param(source(1024, 768), LADDER_4_3[:4], id="4:3-768"),
        pytest.param(source(320, 240), LADDER_4_3[:1], id="4:3-240"),
        pytest.param(source(1080, 1920), LADDER_9_16, id="portrait-9:16"),
        pytest.param(source(360, 640), LADDER_9_16[:2], id="portrait-360x640"),
        pytest.param(source(1920, 1080, rotation=90), LADDER_9_16, id="rotated-phone"),
        pytest.param(source(853, 479), LADDER_16_9[:3], id="odd-853x479"),
        pytest.param(source(176, 144), [(176, 144)], id="qcif-below-smallest"),
        pytest.param(
            source(176, 144, sar=Fraction(128, 117)), [(192, 144)], id="qcif-non-square-pixels"
        ),
        pytest.param(source(1072, 603), LADDER_16_9[:3], id="just-under-720p"),
        pytest.param(source(230, 230), [(230, 230)], id="square-near-240"),
    ],
)
def test_planned_rung_sizes(info: SourceInfo, expected: list[tuple[int, int]]) -> None:
    assert dims(plan_ladder(info)) == expected


def test_rung_names_are_short_side_classes() -> None:
    assert [r.name for r in plan_ladder(source(1920, 1080)).rungs] == [
        "240p",
        "360p",
        "480p",
        "720p",
        "1080p",
    ]
    assert [r.name for r in plan_ladder(source(1080, 1920)).rungs][-1] == "1080p"
    assert [r.name for r in plan_ladder(source(176, 144)).rungs] == ["144p"]


SIZES = [(w, h) for w in range(96, 2000, 89) for h in range(96, 2000, 97)]


@pytest.mark.parametrize(("width", "height"), SIZES[::7] + [(853, 479), (1279, 719), (98, 97)])
def test_every_ladder_keeps_one_exact_aspect_even_and_never_upscales(
    width: int, height: int
) -> None:
    info = source(width, height)
    ladder = plan_ladder(info)
    assert ladder.rungs, "a ladder always has at least one rung"
    aspect = ladder.aspect
    smallest = ladder.rungs[0]
    if len(ladder.rungs) == 1 and min(smallest.width, smallest.height) < CLASS_FILL_RATIO * 240:
        # Below every class the one rung is the source rounded down to even.
        assert dims(ladder) == [(width - width % 2, height - height % 2)]
    else:
        assert abs(aspect / info.aspect - 1) <= 0.01
    for rung in ladder.rungs:
        assert rung.width % 2 == 0 and rung.height % 2 == 0
        # Exactly the same ratio on every rung: the DASH muxer rejects any difference.
        assert Fraction(rung.width, rung.height) == aspect
        assert rung.width <= max(width, 2) and rung.height <= max(height, 2)
    heights = [r.height for r in ladder.rungs]
    assert heights == sorted(set(heights))
    assert len({r.name for r in ladder.rungs}) == len(ladder.rungs)


def test_source_close_below_a_class_still_gets_it() -> None:
    # 1000x1000 is within CLASS_FILL_RATIO of 1080p: top rung at the source's own size.
    assert 1000 >= CLASS_FILL_RATIO * 1080
    top = plan_ladder(source(1000, 1000)).rungs[-1]
    assert (top.name, top.width, top.height) == ("1080p", 1000, 1000)


@pytest.mark.parametrize(
    ("aspect", "expected"),
    [
        (Fraction(1920, 1080), Fraction(16, 9)),
        (Fraction(853, 479), Fraction(16, 9)),
        (Fraction(176 * 128, 144 * 117), Fraction(4, 3)),
        (Fraction(176, 144), Fraction(11, 9)),
        (Fraction(2560, 1080), Fraction(64, 27)),
        (Fraction(1080, 1920), Fraction(9, 16)),
    ],
)
def test_ladder_aspect_is_exact_or_simplest_within_one_percent(
    aspect: Fraction, expected: Fraction
) -> None:
    assert ladder_aspect(aspect) == expected


@pytest.mark.parametrize(
    ("fps", "segment_s", "gop"),
    [
        (Fraction(30), 2.0, 60),
        (Fraction(30000, 1001), 2.0, 60),
        (Fraction(25), 2.0, 50),
        (Fraction(24000, 1001), 4.0, 96),
        (Fraction(25, 2), 2.0, 25),
        (Fraction(60), 6.0, 360),
        (Fraction(120), 2.0, 120),  # output at 60 fps
    ],
)
def test_gop_is_one_segment_of_output_frames(fps: Fraction, segment_s: float, gop: int) -> None:
    ladder = plan_ladder(source(1280, 720, fps=fps), segment_s)
    assert ladder.gop_frames == gop
    assert ladder.segment_duration_s == pytest.approx(gop / float(ladder.fps))


@pytest.mark.parametrize(
    ("source_fps", "expected"),
    [
        (Fraction(60), Fraction(60)),
        (Fraction(50), Fraction(50)),
        (Fraction(30000, 1001), Fraction(30000, 1001)),
        (Fraction(120), Fraction(60)),
        (Fraction(100), Fraction(50)),
        (Fraction(120000, 1001), Fraction(60000, 1001)),
        (Fraction(240), Fraction(60)),
    ],
)
def test_output_fps_keeps_source_rate_up_to_60(source_fps: Fraction, expected: Fraction) -> None:
    assert output_fps(source_fps) == expected
    assert plan_ladder(source(640, 360, fps=source_fps)).fps == expected


def test_bitrates_rise_with_size_and_frame_rate() -> None:
    ladder = plan_ladder(source(1920, 1080))
    rates = [r.video_bitrate for r in ladder.rungs]
    assert rates == sorted(rates) and len(set(rates)) == len(rates)
    assert rates[-1] == 6_000_000
    for rung in ladder.rungs:
        assert rung.video_bitrate < rung.maxrate < rung.bufsize
        assert rung.audio_bitrate == 128_000
        assert rung.bandwidth == rung.maxrate + 128_000
    fast = plan_ladder(source(1920, 1080, fps=Fraction(60)))
    for rung, rate in zip(fast.rungs, rates, strict=True):
        assert rung.video_bitrate == pytest.approx(rate * 1.5, abs=10_000)


def test_video_only_source_plans_no_audio() -> None:
    ladder = plan_ladder(source(640, 360, audio_channels=0))
    assert not ladder.has_audio and ladder.audio_bitrate == 0
    assert all(r.audio_bitrate == 0 and "mp4a" not in r.codecs for r in ladder.rungs)


def test_surround_source_plans_stereo_audio() -> None:
    ladder = plan_ladder(source(640, 360, audio_channels=6))
    assert (ladder.audio_channels, ladder.audio_sample_rate) == (2, 48000)


@pytest.mark.parametrize(
    ("width", "height", "fps", "level"),
    [
        (416, 234, Fraction(30), "3.0"),
        (832, 468, Fraction(30), "3.1"),
        (1280, 720, Fraction(30), "3.1"),
        (1280, 720, Fraction(60), "3.2"),
        (1920, 1080, Fraction(30), "4.0"),
        (1920, 1080, Fraction(60), "4.2"),
    ],
)
def test_h264_level(width: int, height: int, fps: Fraction, level: str) -> None:
    assert h264_level(width, height, fps, maxrate=9_000_000) == level


def test_codecs_string_names_profile_and_level() -> None:
    top = plan_ladder(source(1920, 1080)).rungs[-1]
    assert (top.profile, top.level) == ("high", "4.0")
    assert top.codecs == "avc1.640028,mp4a.40.2"
    small = plan_ladder(source(640, 360, audio_channels=0)).rungs[0]
    assert small.codecs == "avc1.64001e"


def test_rejects_non_positive_segment_length() -> None:
    with pytest.raises(ValueError):
        plan_ladder(source(640, 360), 0)
