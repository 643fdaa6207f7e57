"""The event generator: deterministic, valid for record_watch, and skewed like real traffic."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from storage.history import EVENT_TYPES, POSITION_TOLERANCE_S
from storage.seed import SeedVideo, days_ending, generate_reports, make_videos, user_reports

DAYS = days_ending(date(2026, 11, 2), 2)


def test_the_same_seed_gives_the_same_reports() -> None:
    videos = make_videos(20, seed=7)
    first = list(generate_reports(50, videos, DAYS, seed=7))
    assert first == list(generate_reports(50, make_videos(20, seed=7), DAYS, seed=7))
    assert first != list(generate_reports(50, videos, DAYS, seed=8))


def test_every_report_is_one_record_watch_accepts() -> None:
    reports = list(generate_reports(200, make_videos(30), DAYS))
    assert reports
    for report in reports:
        assert report.event_type in EVENT_TYPES
        assert report.duration_s > 0
        assert 0 <= report.position_s <= report.duration_s + POSITION_TOLERANCE_S
        assert 0 <= report.watched_delta_s <= report.duration_s
        assert report.at.utcoffset() == timedelta(0)
        assert report.at.date() in DAYS


def test_each_viewers_reports_are_in_time_order_and_sessions_start_and_stop() -> None:
    for reports in user_reports(100, make_videos(10), DAYS):
        times = [report.at for report in reports]
        assert times == sorted(times)
        per_watch: dict[tuple[object, object], list[str]] = {}
        for report in reports:
            per_watch.setdefault((report.session_id, report.video_id), []).append(report.event_type)
        for events in per_watch.values():
            assert events[0] == "start"


def test_traffic_is_skewed_and_has_partial_and_full_watches() -> None:
    videos = make_videos(100)
    reports = list(generate_reports(2000, videos, DAYS))
    starts = Counter(r.video_id for r in reports if r.event_type == "start")
    top_decile = sum(count for _, count in starts.most_common(10))
    # Power law: the ten most watched of 100 videos get far more than a tenth of the watches.
    assert top_decile > 0.4 * sum(starts.values())
    kinds = Counter(r.event_type for r in reports)
    assert kinds["ended"] > 0 and kinds["pause"] > 0 and kinds["seek"] > 0
    per_user = Counter(r.user_id for r in reports)
    assert max(per_user.values()) > 10 * sorted(per_user.values())[len(per_user) // 2]
    durations = sorted(v.duration_s for v in videos)
    assert 15 <= durations[0] and durations[-1] <= 3 * 3600


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        days_ending(date(2026, 11, 2), 0)
    with pytest.raises(ValueError):
        next(user_reports(0, make_videos(1), DAYS))


def test_viewers_favour_one_topic_when_videos_have_topics() -> None:
    videos = [
        SeedVideo(video.video_id, video.duration_s, topic="cooking" if n % 2 else "football")
        for n, video in enumerate(make_videos(20, seed=3))
    ]
    topic = {video.video_id: video.topic for video in videos}
    shares = []
    for reports in user_reports(300, videos, days_ending(date(2026, 3, 31), 7), seed=3):
        watched = Counter(topic[report.video_id] for report in reports)
        if sum(watched.values()) >= 20:
            shares.append(max(watched.values()) / sum(watched.values()))
    # Four picks in five come from the favourite topic; the rest from the whole catalogue.
    assert len(shares) > 20
    assert 0.8 < sum(shares) / len(shares) < 0.98
