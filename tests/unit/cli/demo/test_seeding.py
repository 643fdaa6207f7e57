"""The demo's generated watch events: the same for any date, with the tastes and viewers the
demo promises."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from uuid import UUID

from cli.demo.seeding import ART_LOVERS, ENGINEERS, WatchableVideo, watch_reports
from storage.catalog import Visibility
from storage.seed import Report, SeedVideo, days_ending

SUBSCRIBER = UUID(int=1)
VIEWER = UUID(int=2)
VIDEOS = [
    WatchableVideo(SeedVideo(UUID(int=10), 12.0), Visibility.PUBLIC, ENGINEERS),
    WatchableVideo(SeedVideo(UUID(int=11), 10.0), Visibility.PUBLIC, ENGINEERS),
    WatchableVideo(SeedVideo(UUID(int=12), 16.0), Visibility.PUBLIC, ART_LOVERS),
    WatchableVideo(SeedVideo(UUID(int=13), 15.0), Visibility.PREMIUM, ART_LOVERS),
]
DAYS = days_ending(date(2026, 1, 2), 3)


def test_the_reports_depend_on_the_arguments_not_on_the_date() -> None:
    first = watch_reports(SUBSCRIBER, VIEWER, VIDEOS, DAYS, viewers=20)
    later_days = days_ending(date(2031, 7, 20), 3)
    shift = later_days[0] - DAYS[0]
    later = watch_reports(SUBSCRIBER, VIEWER, VIDEOS, later_days, viewers=20)
    assert later == [[replace(report, at=report.at + shift) for report in r] for r in first]
    assert watch_reports(SUBSCRIBER, VIEWER, VIDEOS, list(reversed(DAYS)), viewers=20) == first


def _by_viewer(reports: list[list[Report]]) -> dict[UUID, list[Report]]:
    viewers: dict[UUID, list[Report]] = defaultdict(list)
    for history in reports:
        for report in history:
            viewers[report.user_id].append(report)
    return viewers


def test_the_demo_viewers_watch_every_day_the_free_one_no_premium_video() -> None:
    viewers = _by_viewer(watch_reports(SUBSCRIBER, VIEWER, VIDEOS, DAYS, viewers=20))
    for account in (SUBSCRIBER, VIEWER):
        assert {report.at.date() for report in viewers[account]} == set(DAYS), account
    premium = {video.video.video_id for video in VIDEOS if video.visibility == Visibility.PREMIUM}
    assert not premium & {report.video_id for report in viewers[VIEWER]}


def test_each_generated_viewer_watches_one_audience() -> None:
    audience = {video.video.video_id: video.audience for video in VIDEOS}
    viewers = _by_viewer(watch_reports(SUBSCRIBER, VIEWER, VIDEOS, DAYS, viewers=20))
    generated = {
        user: reports for user, reports in viewers.items() if user not in (SUBSCRIBER, VIEWER)
    }
    assert generated
    tastes = {user: {audience[r.video_id] for r in reports} for user, reports in generated.items()}
    assert all(len(taste) == 1 for taste in tastes.values()), tastes
    assert set().union(*tastes.values()) == {ENGINEERS, ART_LOVERS}


def test_a_library_of_premium_videos_only_and_fewer_viewers_than_audiences() -> None:
    premium_only = [video for video in VIDEOS if video.visibility == Visibility.PREMIUM]
    viewers = _by_viewer(watch_reports(SUBSCRIBER, VIEWER, premium_only, DAYS, viewers=0))
    assert set(viewers) == {SUBSCRIBER}
    # One generated viewer for two audiences: the first audience gets them, the other none.
    audience = {video.video.video_id: video.audience for video in VIDEOS}
    one = _by_viewer(watch_reports(SUBSCRIBER, VIEWER, VIDEOS, DAYS, viewers=1))
    generated = [reports for user, reports in one.items() if user not in (SUBSCRIBER, VIEWER)]
    assert {audience[r.video_id] for reports in generated for r in reports} <= {ART_LOVERS}
