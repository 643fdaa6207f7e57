"""Sensors: completed uploads become video partitions and runs of the media lifecycle; a
successful day of viewing aggregates retrains the recommendation model."""

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)

from assets.ingest import VIDEO_PARTITIONS, videos
from pipelines.analytics_jobs import engagement_daily, train_recommendations
from pipelines.jobs import media_lifecycle
from pipelines.resources import CatalogResource, ObjectStoreResource


@sensor(
    job=media_lifecycle, minimum_interval_seconds=15, default_status=DefaultSensorStatus.RUNNING
)
def upload_sensor(
    context: SensorEvaluationContext, catalog: CatalogResource, object_store: ObjectStoreResource
) -> SensorResult | SkipReason:
    """Start the media lifecycle of every video whose upload completed and whose object exists."""
    store = object_store.store()
    pending = [
        (str(upload.video_id), str(upload.id))
        for upload in catalog.catalog.list_completed_uploads_pending_ingest()
        if store.exists(upload.object_key)
    ]
    if not pending:
        return SkipReason("no completed upload awaits ingest")
    known = set(context.instance.get_dynamic_partitions(VIDEO_PARTITIONS))
    new_keys = sorted({video_id for video_id, _ in pending} - known)
    return SensorResult(
        run_requests=[
            # The run key makes a later tick that sees the same upload ask for nothing new.
            RunRequest(partition_key=video_id, run_key=f"{video_id}:{upload_id}")
            for video_id, upload_id in pending
        ],
        dynamic_partitions_requests=[videos.build_add_request(new_keys)] if new_keys else [],
    )


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[engagement_daily],
    request_job=train_recommendations,
    default_status=DefaultSensorStatus.RUNNING,
)
def retrain_after_engagement(context: RunStatusSensorContext) -> RunRequest:
    """New interactions are in: train, check and (if it passes) promote a model."""
    # One training per finished aggregation run, however often the sensor is evaluated.
    return RunRequest(run_key=context.dagster_run.run_id)
