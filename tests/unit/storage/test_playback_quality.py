"""Playback quality figures from per-session rows: plays, failures, exits, TTFF quantiles and
the time-weighted ratios, worked out by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from storage.playback_quality import SESSION_COLUMNS, quality_rollup, quantile, ratio

NAN = float("nan")


def session(video: str, name: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "video_id": video,
        "session_id": name,
        "events": 1,
        "started": True,
        "first_frame_ms": NAN,
        "fatal_error_ms": NAN,
        "exited": False,
        "playing_ms": 0,
        "rebuffer_ms": 0,
        "bitrate_ms": 0,
        "bitrate_weight": Decimal(0),
        "switches": 0,
    }
    return row | values


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(SESSION_COLUMNS))


SESSIONS = frame(
    # a: played 60 s at 1000 kbps then 20 s at 3000 kbps, stalled 4 s, switched twice.
    session(
        "a",
        "s1",
        first_frame_ms=400.0,
        playing_ms=80_000,
        rebuffer_ms=4_000,
        bitrate_ms=80_000,
        bitrate_weight=Decimal(60_000 * 1000 + 20_000 * 3000),
        switches=2,
    ),
    session(
        "a",
        "s2",
        first_frame_ms=1_000.0,
        playing_ms=20_000,
        bitrate_ms=20_000,
        bitrate_weight=Decimal(20_000 * 2000),
    ),
    # a fatal error before any frame: a start failure, even though the viewer also left.
    session("a", "s3", fatal_error_ms=300.0, exited=True),
    # left before the first frame.
    session("a", "s4", exited=True),
    # an error after the first frame is not a start failure.
    session(
        "b", "s5", first_frame_ms=200.0, fatal_error_ms=5_000.0, playing_ms=4_000, rebuffer_ms=1_000
    ),
    # never asked to start (its session_start was lost): no play and no TTFF, but its
    # seconds played still weigh the ratios.
    session("b", "s6", started=False, first_frame_ms=9_000.0, playing_ms=1_000),
)


def test_per_video_figures() -> None:
    rows = quality_rollup(SESSIONS, ["video_id"]).set_index("video_id").to_dict("index")
    a, b = rows["a"], rows["b"]
    assert (a["plays"], a["video_start_failures"], a["exits_before_start"]) == (4, 1, 1)
    assert a["ttff_median_ms"] == pytest.approx(700.0)  # of 400 and 1000
    assert a["ttff_p95_ms"] == pytest.approx(400 + 0.95 * 600)
    assert a["rebuffer_ratio"] == pytest.approx(4 / (100 + 4))
    # (60 s × 1000 + 20 s × 3000 + 20 s × 2000) / 100 s
    assert a["avg_bitrate_kbps"] == pytest.approx(1600.0)
    assert a["rendition_switches"] == 2
    assert (b["plays"], b["video_start_failures"], b["exits_before_start"]) == (1, 0, 0)
    assert b["ttff_median_ms"] == b["ttff_p95_ms"] == 200.0
    assert b["rebuffer_ratio"] == pytest.approx(1 / (5 + 1))
    assert pd.isna(b["avg_bitrate_kbps"])  # no heartbeat named a bitrate


def test_the_overall_row_comes_from_the_sessions_not_the_videos_rows() -> None:
    overall = quality_rollup(SESSIONS, []).to_dict("records")
    assert len(overall) == 1
    day = overall[0]
    assert (day["plays"], day["video_start_failures"], day["exits_before_start"]) == (5, 1, 1)
    # Over the three TTFFs 200, 400, 1000; averaging the videos' medians would give 450.
    assert day["ttff_median_ms"] == 400.0
    assert day["ttff_p95_ms"] == pytest.approx(400 + 0.9 * 600)
    assert day["rebuffer_ratio"] == pytest.approx(5 / (105 + 5))
    assert day["avg_bitrate_kbps"] == pytest.approx(1600.0)
    assert day["rendition_switches"] == 2


def test_a_day_without_sessions_still_has_its_overall_row() -> None:
    overall = quality_rollup(frame(), [])
    assert len(overall) == 1
    day = overall.iloc[0]
    assert day["plays"] == 0 and day["rendition_switches"] == 0
    assert pd.isna(day["ttff_median_ms"]) and pd.isna(day["rebuffer_ratio"])
    assert quality_rollup(frame(), ["video_id"]).empty


def test_the_result_does_not_depend_on_the_order_of_sessions() -> None:
    shuffled = SESSIONS.sample(frac=1, random_state=7)
    pd.testing.assert_frame_equal(
        quality_rollup(shuffled, ["video_id"]), quality_rollup(SESSIONS, ["video_id"])
    )


def test_quantiles_interpolate_between_closest_ranks() -> None:
    assert quantile([], 0.5) is None
    assert quantile([5.0], 0.95) == 5.0
    assert quantile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.5
    assert quantile(list(map(float, range(1, 21))), 0.95) == pytest.approx(19.05)
    with pytest.raises(ValueError):
        quantile([1.0], 1.5)


def test_ratio_of_nothing_is_none() -> None:
    assert ratio(0, 0) is None
    assert ratio(1, 4) == 0.25
