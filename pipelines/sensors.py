"""Sensors: completed uploads become video partitions and runs of the media lifecycle."""

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.ingest import VIDEO_PARTITIONS, videos
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
