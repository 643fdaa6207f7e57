"""Schedules: the viewing aggregates of each UTC day, shortly after it ends."""

from datetime import UTC, timedelta

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    schedule,
)

from pipelines.analytics_jobs import engagement_daily

# Half an hour of slack lets reports buffered by players around midnight arrive first; reports
# synced later (offline playback) are picked up by re-running that day.
ENGAGEMENT_CRON = "30 0 * * *"


@schedule(
    cron_schedule=ENGAGEMENT_CRON,
    job=engagement_daily,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
def engagement_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """Aggregate the UTC day that just ended."""
    day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).date()
    # The run key makes a re-evaluated tick ask for nothing new.
    return RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())
