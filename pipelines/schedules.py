"""Schedules: the viewing aggregates of each UTC day, shortly after it ends; a weekly model."""

from datetime import UTC, timedelta

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

from pipelines.analytics_jobs import engagement_daily, train_recommendations

# Half an hour of slack lets reports buffered by players around midnight arrive first; reports
# synced later (offline playback) are picked up by re-running that day.
ENGAGEMENT_CRON = "30 0 * * *"
# Mondays, after the night's aggregates: a model even in a week whose daily runs all failed.
RECOMMENDATIONS_CRON = "0 3 * * 1"


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


recommendations_schedule = ScheduleDefinition(
    name="recommendations_weekly",
    cron_schedule=RECOMMENDATIONS_CRON,
    job=train_recommendations,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
