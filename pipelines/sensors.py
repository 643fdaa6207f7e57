"""Sensors: completed uploads become video partitions and runs of the media lifecycle, and so
do premium videos still published in the clear; an account's erasure re-runs the days its
viewing was aggregated on; a successful day of viewing aggregates retrains the recommendation
model (once per erasure, however many days it re-runs)."""

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)

from assets.engagement import INTERACTIONS_KEY
from assets.ingest import VIDEO_PARTITIONS, videos
from assets.resources import CatalogResource, ObjectStoreResource
from pipelines.analytics_jobs import engagement_daily, train_recommendations
from pipelines.jobs import media_lifecycle
from reelflow.media_runs import PARTITION_TAG, UPLOAD_TAG, VIDEO_TAG, run_tags


def upload_run_key(video_id: str, upload_id: str) -> str:
    """The run key of the media run of one upload: a later tick that sees the same upload asks
    for nothing new, and a new upload of the video gets a new run."""
    return f"{video_id}:{upload_id}"


@sensor(
    job=media_lifecycle, minimum_interval_seconds=15, default_status=DefaultSensorStatus.RUNNING
)
def upload_sensor(
    context: SensorEvaluationContext, catalog: CatalogResource, object_store: ObjectStoreResource
) -> SensorResult | SkipReason:
    """Start the media lifecycle of every video whose upload completed and whose object exists,
    unless a run for that upload exists already (the API hands most uploads over at once)."""
    store = object_store.store()
    pending = [
        (str(upload.video_id), str(upload.id))
        for upload in catalog.catalog.list_completed_uploads_pending_ingest()
        if store.exists(upload.object_key)
        and not context.instance.get_runs_count(RunsFilter(tags={UPLOAD_TAG: str(upload.id)}))
    ]
    if not pending:
        return SkipReason("no completed upload awaits a run")
    known = set(context.instance.get_dynamic_partitions(VIDEO_PARTITIONS))
    new_keys = sorted({video_id for video_id, _ in pending} - known)
    return SensorResult(
        run_requests=[
            RunRequest(
                partition_key=video_id,
                run_key=upload_run_key(video_id, upload_id),
                tags=run_tags(video_id, upload_id),
            )
            for video_id, upload_id in pending
        ],
        dynamic_partitions_requests=[videos.build_add_request(new_keys)] if new_keys else [],
    )


def protection_run_key(video_id: str, rights_version: int) -> str:
    """The run key of the run that publishes a video encrypted after it became premium: one
    per change of its rights, however many ticks see it."""
    return f"{video_id}:protect:{rights_version}"


@sensor(
    job=media_lifecycle, minimum_interval_seconds=15, default_status=DefaultSensorStatus.RUNNING
)
def protection_sensor(
    context: SensorEvaluationContext, catalog: CatalogResource
) -> SensorResult | SkipReason:
    """Process again every premium video still published in the clear (it was public when it
    was published): its new version is encrypted, and the clear one stops being served."""
    waiting = catalog.catalog.list_videos_awaiting_protection()
    if not waiting:
        return SkipReason("no premium video is published in the clear")
    return SensorResult(
        run_requests=[
            RunRequest(
                partition_key=str(video.id),
                run_key=protection_run_key(str(video.id), video.rights_version),
                tags={PARTITION_TAG: str(video.id), VIDEO_TAG: str(video.id)},
            )
            for video in waiting
        ]
    )


# Runs of one erasure carry the id of its newest request.
ERASURE_TAG = "reelflow/erasure"
UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


@sensor(
    job=engagement_daily, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING
)
def erasure_sensor(
    context: SensorEvaluationContext, catalog: CatalogResource
) -> SensorResult | SkipReason:
    """Re-run every aggregated day an erased account had viewing on; its raw events are gone,
    so the rebuilt datasets no longer hold its rows."""
    after = int(context.cursor or 0)
    erasures = catalog.catalog.list_analytics_erasures(after_id=after)
    if not erasures:
        return SkipReason("no erasure awaits its datasets")
    newest = erasures[-1].id
    # A day never aggregated needs nothing: its first run reads the events as they are now.
    aggregated = context.instance.get_materialized_partitions(INTERACTIONS_KEY)
    days = sorted({day.isoformat() for e in erasures for day in e.days} & aggregated)
    return SensorResult(
        run_requests=[
            RunRequest(
                partition_key=day,
                run_key=f"erasure:{newest}:{day}",
                tags={ERASURE_TAG: str(newest)},
            )
            for day in days
        ],
        cursor=str(newest),
    )


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[engagement_daily],
    request_job=train_recommendations,
    default_status=DefaultSensorStatus.RUNNING,
)
def retrain_after_engagement(context: RunStatusSensorContext) -> RunRequest | SkipReason:
    """New interactions are in: train, check and (if it passes) promote a model."""
    erasure = context.dagster_run.tags.get(ERASURE_TAG)
    if erasure is None:
        # One training per finished aggregation run, however often the sensor is evaluated.
        return RunRequest(run_key=context.dagster_run.run_id)
    still_running = context.instance.get_runs_count(
        RunsFilter(tags={ERASURE_TAG: erasure}, statuses=UNFINISHED)
    )
    if still_running:
        return SkipReason(f"erasure {erasure}: {still_running} more day(s) being rebuilt")
    # The last of the erasure's days: one model without the account's rows.
    return RunRequest(run_key=f"erasure:{erasure}")
