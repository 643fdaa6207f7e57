"""When the schedules tick and what they ask for: each UTC day aggregated once, after it ended;
a model every week, after that Monday's aggregates; the upload clean-up every hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from dagster import Definitions, ScheduleDefinition, build_schedule_context
from dagster._utils.schedules import cron_string_iterator

from pipelines.analytics_jobs import engagement_daily
from pipelines.maintenance import uploads_schedule
from pipelines.resources import resources_for
from pipelines.schedules import engagement_schedule, recommendations_schedule
from reelflow.settings import Settings


def test_the_schedule_runs_yesterday_after_midnight_utc() -> None:
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 3, 0, 30, tzinfo=UTC)
    )
    request = engagement_schedule(context)
    assert request.partition_key == "2026-11-02"
    assert request.run_key == "2026-11-02"


def ticks(schedule: ScheduleDefinition, start: datetime, end: datetime) -> list[datetime]:
    """The schedule's tick times in [start, end)."""
    times = cron_string_iterator(
        start.timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    found = []
    for moment in times:
        if moment >= end:
            return found
        found.append(moment)
    return found


# Four weeks across the change to daylight saving time in Europe and the US.
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(weeks=4)


def test_every_utc_day_is_asked_for_once_after_it_ends() -> None:
    requested = []
    for tick in ticks(engagement_schedule, START, END):
        request = engagement_schedule(build_schedule_context(scheduled_execution_time=tick))
        day = datetime.fromisoformat(request.partition_key).replace(tzinfo=UTC)
        # Reports players buffered around midnight have had time to arrive.
        assert tick - (day + timedelta(days=1)) >= timedelta(minutes=15)
        requested.append(request.partition_key)
    expected = [(START + timedelta(days=n - 1)).date().isoformat() for n in range(28)]
    assert requested == expected


def test_a_model_is_trained_once_a_week_after_that_days_aggregates() -> None:
    trainings = ticks(recommendations_schedule, START, END)
    aggregations = ticks(engagement_schedule, START, END)
    assert recommendations_schedule.job_name == "train_recommendations"
    assert [tick.isocalendar().week for tick in trainings] == [10, 11, 12, 13]
    for training in trainings:
        same_day = [tick for tick in aggregations if tick.date() == training.date()]
        assert same_day and same_day[0] < training


def test_uploads_are_swept_every_hour() -> None:
    sweeps = ticks(uploads_schedule, START, START + timedelta(days=1))
    assert len(sweeps) == 24
    assert {b - a for a, b in zip(sweeps, sweeps[1:], strict=False)} == {timedelta(hours=1)}


def test_the_day_is_the_utc_day_whatever_the_tick_time_zone() -> None:
    tick = datetime(2026, 11, 3, 0, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))
    request = engagement_schedule(build_schedule_context(scheduled_execution_time=tick))
    assert request.partition_key == "2026-11-02"


def test_the_job_selects_every_materializable_engagement_asset() -> None:
    from assets import engagement

    defs = Definitions(
        assets=[
            engagement.daily_watch_events,
            engagement.daily_viewing,
            engagement.trending_videos,
        ],
        jobs=[engagement_daily],
        schedules=[engagement_schedule],
        resources=resources_for(Settings()),
    )
    job = defs.resolve_job_def("engagement_daily")
    assert job.partitions_def == engagement.daily_partitions
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == {
        "user_video_interactions",
        "daily_video_engagement",
        "trending_videos",
    }
