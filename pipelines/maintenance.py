"""Housekeeping: uploads that will never finish are expired and their bytes deleted, hourly."""

from pathlib import Path

import pandas as pd
from dagster import (
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    job,
    op,
)

from assets.metadata import markdown_table
from assets.resources import CatalogResource, ObjectStoreResource
from storage.uploads import sweep_uploads

UPLOADS_CRON = "20 * * * *"


@op
def sweep_upload_leftovers(
    context: OpExecutionContext, catalog: CatalogResource, object_store: ObjectStoreResource
) -> Output[int]:
    """Expire overdue uploads; delete the partial files and multipart uploads of closed ones."""
    directory = object_store.partial_dir
    sweep = sweep_uploads(
        catalog.catalog, object_store.store(), Path(directory) if directory else None
    )
    context.log.info(
        f"{len(sweep.expired)} uploads expired; {sweep.partial_files} partial files"
        f" ({sweep.partial_bytes} bytes) and {len(sweep.aborted_multipart_keys)} multipart"
        " uploads removed"
    )
    expired = pd.DataFrame(
        [
            [str(u.video_id), str(u.id), f"{u.received_bytes} / {u.size_bytes}", u.expires_at]
            for u in sweep.expired
        ],
        columns=["video", "upload", "received / declared bytes", "expired at"],
    )
    return Output(
        len(sweep.expired),
        metadata={
            "expired_uploads": len(sweep.expired),
            "partial_files_removed": sweep.partial_files,
            "partial_bytes_removed": sweep.partial_bytes,
            "multipart_uploads_aborted": len(sweep.aborted_multipart_keys),
            "expired": MetadataValue.md(markdown_table(expired)),
        },
    )


@job(tags={"reelflow/stage": "maintenance"})
def clean_up_uploads() -> None:
    """Expire overdue uploads and delete what closed ones left on disk and in the bucket."""
    sweep_upload_leftovers()


uploads_schedule = ScheduleDefinition(
    name="clean_up_uploads_hourly",
    cron_schedule=UPLOADS_CRON,
    job=clean_up_uploads,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)
