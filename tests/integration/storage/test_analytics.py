"""Dashboard figures read from both object stores: a range's days in one listing."""

from __future__ import annotations

from datetime import date, timedelta

from storage.analytics import COMMUNITY, PLAYBACK_QUALITY, read_days, scope_report
from storage.engagement import ENGAGEMENT
from storage.objects import ObjectStore
from tests.fixtures.analytics import VideoDay, seed_videos

VIDEO = "5b0e7c52-0000-4000-8000-000000000001"
FIRST = date(2026, 10, 30)


def day_of(views: int) -> VideoDay:
    return VideoDay(
        views=views,
        unique_viewers=views,
        watched_s=30.0 * views,
        avg_completion=0.25,
        likes=views,
        dislikes=0,
        likes_added=1,
        dislikes_added=0,
        playlist_adds=0,
        plays=views,
        video_start_failures=0,
        exits_before_start=0,
        ttff_median_ms=600.0,
        ttff_p95_ms=1200.0,
        rebuffer_ratio=0.0,
        avg_bitrate_kbps=900.0,
    )


def test_a_range_reads_the_days_written_across_months_and_listing_pages(
    object_store: ObjectStore,
) -> None:
    # Five days over a month's end, the fourth never aggregated, and one day after the range.
    days = [FIRST + timedelta(days=n) for n in range(6)]
    for n, day in enumerate(days):
        if n != 3:
            seed_videos(object_store, day, {VIDEO: day_of(n + 1)})

    frames = read_days(object_store, ENGAGEMENT, days[:5], ["video_id", "views"])
    report = scope_report(object_store, [VIDEO], days[0], days[4])

    assert sorted(frames) == [days[0], days[1], days[2], days[4]]
    assert [int(frame["views"].sum()) for _, frame in sorted(frames.items())] == [1, 2, 3, 5]
    assert [figures.views for figures in report.days] == [1, 2, 3, None, 5]
    assert report.totals.views == 11 and report.totals.likes == 5
    assert report.days_missing == {
        ENGAGEMENT: [days[3]],
        COMMUNITY: [days[3]],
        PLAYBACK_QUALITY: [days[3]],
    }
