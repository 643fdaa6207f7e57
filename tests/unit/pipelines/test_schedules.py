"""The daily engagement schedule asks for the UTC day that just ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from dagster import Definitions, build_schedule_context

from pipelines.analytics_jobs import engagement_daily
from pipelines.resources import resources_for
from pipelines.schedules import engagement_schedule
from reelflow.settings import Settings


def test_the_schedule_runs_yesterday_after_midnight_utc() -> None:
    context = build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 3, 0, 30, tzinfo=UTC)
    )
    request = engagement_schedule(context)
    assert request.partition_key == "2026-11-02"
    assert request.run_key == "2026-11-02"
    assert engagement_schedule.cron_schedule == "30 0 * * *"
    assert engagement_schedule.execution_timezone == "UTC"


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
