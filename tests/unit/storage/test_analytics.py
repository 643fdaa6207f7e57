"""Dashboard figures: ranges of days, daily series and totals from the datasets' partitions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from storage.analytics import (
    COMMUNITY,
    COMMUNITY_COLUMNS,
    ENGAGEMENT_COLUMNS,
    MAX_RANGE_DAYS,
    PLAYBACK_QUALITY,
    PLAYBACK_QUALITY_OVERALL,
    QUALITY_COLUMNS,
    InvalidRange,
    day_range,
    read_days,
    summarise,
)
from storage.engagement import ENGAGEMENT, SCHEMAS, write_partition
from storage.objects import LocalObjectStore

A = "0d6f3c1e-0000-4000-8000-00000000000a"
B = "0d6f3c1e-0000-4000-8000-00000000000b"
OTHER = "0d6f3c1e-0000-4000-8000-00000000000c"
D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def engagement(*rows: tuple[str, int, int, float, float | None]) -> pd.DataFrame:
    """Rows of (video, views, unique viewers, watched seconds, average completion)."""
    return pd.DataFrame(
        {
            "video_id": [row[0] for row in rows],
            "events": [row[2] * 4 for row in rows],
            "views": [row[1] for row in rows],
            "unique_viewers": [row[2] for row in rows],
            "sessions": [row[2] for row in rows],
            "watched_s": [row[3] for row in rows],
            "median_watched_s": [row[3] / max(row[2], 1) for row in rows],
            "avg_completion": [row[4] for row in rows],
            "finishes": [0 for _ in rows],
            "duration_s": [60.0 for _ in rows],
        }
    )


def community(*rows: tuple[str, int, int, int, int, int]) -> pd.DataFrame:
    names = ["video_id", "likes", "dislikes", "likes_added", "dislikes_added", "playlist_adds"]
    return pd.DataFrame(rows, columns=names)


def quality(*rows: tuple[str, int, int, int, float, float, float, float, int]) -> pd.DataFrame:
    names = [
        "video_id",
        "plays",
        "video_start_failures",
        "exits_before_start",
        "ttff_median_ms",
        "ttff_p95_ms",
        "rebuffer_ratio",
        "avg_bitrate_kbps",
        "rendition_switches",
    ]
    return pd.DataFrame(rows, columns=names)


def test_a_range_holds_every_day_from_first_to_last() -> None:
    assert day_range(D1, D3) == [D1, D2, D3]
    assert day_range(D2, D2) == [D2]
    assert len(day_range(date(2024, 1, 1), date(2024, 12, 31))) == MAX_RANGE_DAYS


def test_reversed_and_overlong_ranges_are_refused_with_their_code() -> None:
    with pytest.raises(InvalidRange) as reversed_range:
        day_range(D2, D1)
    assert reversed_range.value.code == "invalid_range"
    with pytest.raises(InvalidRange) as too_long:
        day_range(date(2024, 1, 1), date(2025, 1, 1))
    assert too_long.value.code == "range_too_long"
    assert "367 days" in str(too_long.value)


def test_a_videos_days_and_totals_leave_out_other_videos_and_report_missing_days() -> None:
    frames = {
        ENGAGEMENT: {
            D1: engagement((A, 3, 4, 120.0, 0.5), (OTHER, 50, 60, 9000.0, 0.9)),
            D3: engagement((A, 1, 1, 30.0, 1.0)),
        },
        COMMUNITY: {D1: community((A, 2, 0, 2, 0, 1)), D2: community((A, 5, 1, 3, 1, 2))},
        PLAYBACK_QUALITY: {
            D1: quality((A, 4, 1, 0, 800.0, 2000.0, 0.1, 1500.0, 2)),
            D2: quality((A, 1, 0, 1, 400.0, 400.0, 0.0, 3000.0, 0)),
        },
    }

    report = summarise([D1, D2, D3], frames, [A])

    first, second, third = report.days
    assert (first.views, first.unique_viewers, first.watched_s) == (3, 4, 120.0)
    assert second.views is None and second.avg_completion is None
    assert (third.views, third.avg_completion) == (1, 1.0)
    assert (second.likes, second.dislikes, second.likes_added) == (5, 1, 3)
    assert third.likes is None and third.plays is None
    assert report.days_missing == {
        ENGAGEMENT: [D2],
        COMMUNITY: [D3],
        PLAYBACK_QUALITY: [D3],
    }
    totals = report.totals
    assert (totals.views, totals.unique_viewers_summed, totals.watched_s) == (4, 5, 150.0)
    # One mean over the five viewer-days: (4 × 0.5 + 1 × 1.0) / 5.
    assert totals.avg_completion == pytest.approx(0.6)
    # Ratings are totals at the end of the last day that has them, not sums over days.
    assert (totals.likes, totals.dislikes, totals.ratings_as_of) == (5, 1, D2)
    assert (totals.likes_added, totals.dislikes_added, totals.playlist_adds) == (5, 1, 3)
    assert (totals.plays, totals.video_start_failures, totals.exits_before_start) == (5, 1, 1)
    assert totals.rendition_switches == 2
    # Weighted by plays: (4 × 800 + 1 × 400) / 5.
    assert totals.ttff_median_ms == pytest.approx(720.0)
    assert totals.ttff_p95_ms == pytest.approx(1680.0)
    assert totals.rebuffer_ratio == pytest.approx(0.08)
    assert totals.avg_bitrate_kbps == pytest.approx(1800.0)


def test_a_channels_day_adds_up_its_videos_and_weights_its_means() -> None:
    frames = {
        ENGAGEMENT: {D1: engagement((A, 2, 3, 60.0, 0.2), (B, 1, 1, 40.0, 1.0))},
        COMMUNITY: {D1: community((A, 4, 1, 1, 0, 0), (B, 6, 2, 2, 1, 3))},
        PLAYBACK_QUALITY: {
            D1: quality(
                (A, 3, 0, 0, 1000.0, 3000.0, 0.2, 1000.0, 1),
                (B, 1, 1, 0, 200.0, 600.0, 0.0, 2000.0, 0),
            )
        },
    }

    (day,) = summarise([D1], frames, [A, B]).days

    assert (day.views, day.unique_viewers, day.watched_s) == (3, 4, 100.0)
    assert day.avg_completion == pytest.approx((3 * 0.2 + 1 * 1.0) / 4)
    assert (day.likes, day.dislikes, day.playlist_adds) == (10, 3, 3)
    assert day.plays == 4 and day.video_start_failures == 1
    assert day.ttff_median_ms == pytest.approx(800.0)
    assert day.rebuffer_ratio == pytest.approx(0.15)


def test_a_day_written_without_the_videos_rows_counts_zero_and_has_no_means() -> None:
    frames = {
        ENGAGEMENT: {D1: engagement((OTHER, 5, 5, 300.0, 0.5))},
        COMMUNITY: {D1: community()},
        PLAYBACK_QUALITY: {D1: quality((OTHER, 5, 0, 0, 500.0, 900.0, 0.0, 2500.0, 0))},
    }

    report = summarise([D1], frames, [A])

    (day,) = report.days
    assert (day.views, day.unique_viewers, day.watched_s, day.likes, day.plays) == (0, 0, 0, 0, 0)
    assert day.avg_completion is None and day.ttff_median_ms is None
    assert all(days == [] for days in report.days_missing.values())
    assert report.totals.avg_completion is None and report.totals.ttff_p95_ms is None
    assert (report.totals.likes, report.totals.ratings_as_of) == (0, D1)


def test_every_video_takes_playback_quality_from_the_overall_dataset() -> None:
    overall = quality(("", 10, 2, 1, 600.0, 1800.0, 0.05, 2200.0, 7)).drop(columns="video_id")
    frames = {
        ENGAGEMENT: {D1: engagement((A, 2, 2, 60.0, 0.5), (OTHER, 6, 6, 180.0, 0.25))},
        PLAYBACK_QUALITY_OVERALL: {D2: overall},
    }

    report = summarise([D1, D2], frames, None)

    assert report.days[0].views == 8 and report.days[0].plays is None
    assert report.days[1].plays == 10 and report.days[1].ttff_p95_ms == 1800.0
    assert report.days_missing == {
        ENGAGEMENT: [D2],
        COMMUNITY: [D1, D2],
        PLAYBACK_QUALITY_OVERALL: [D1],
    }
    assert report.totals.rendition_switches == 7 and report.totals.likes is None


def test_reading_a_range_returns_only_its_days_that_were_written(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, "http://cdn.test/cdn", b"unit-test-secret")
    for day, views in ((D1, 1), (D3, 3), (date(2026, 11, 4), 4)):
        write_partition(store, ENGAGEMENT, day, engagement((A, views, views, 10.0, 0.5)))

    frames = read_days(store, ENGAGEMENT, [D1, D2, D3], ["video_id", "views"])

    assert sorted(frames) == [D1, D3]
    assert list(frames[D3].columns) == ["video_id", "views"]
    assert frames[D3]["views"].tolist() == [3]
    assert read_days(store, COMMUNITY, [D1], ["likes"]) == {}


def test_the_columns_read_are_those_the_pipeline_writes() -> None:
    per_video = {
        ENGAGEMENT: ENGAGEMENT_COLUMNS,
        COMMUNITY: COMMUNITY_COLUMNS,
        PLAYBACK_QUALITY: QUALITY_COLUMNS,
    }
    for dataset, columns in per_video.items():
        assert {"video_id", *columns} <= set(SCHEMAS[dataset].names), dataset
    assert set(QUALITY_COLUMNS) == set(SCHEMAS[PLAYBACK_QUALITY_OVERALL].names)
