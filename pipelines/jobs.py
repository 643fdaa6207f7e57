"""Jobs, selected by asset group."""

from dagster import AssetSelection, PartitionedConfig, define_asset_job

from assets.captions import CAPTION_UPDATE
from assets.ingest import GROUP as MEDIA
from assets.ingest import videos
from pipelines.executors import media_executor
from reelflow import media_runs
from reelflow.media_runs import VIDEO_TAG
from reelflow.settings import Settings

# One video's whole media lifecycle. Re-processing is this job on one partition (or a
# backfill over many) from the UI or `dagster job backfill`.
media_lifecycle = define_asset_job(
    media_runs.JOB,
    selection=AssetSelection.groups(MEDIA) - CAPTION_UPDATE,
    tags={"reelflow/stage": "transcode"},
    executor_def=media_executor(Settings()),
    config=PartitionedConfig(
        partitions_def=videos,
        run_config_for_partition_key_fn=lambda _: {},
        tags_for_partition_key_fn=lambda video_id: {VIDEO_TAG: video_id},
    ),
)

# A caption change on a published video: a new version from the published one, no encoding.
# Tagged with the video, so it never runs beside a media run of it.
caption_update = define_asset_job(
    media_runs.CAPTIONS_JOB,
    selection=CAPTION_UPDATE,
    executor_def=media_executor(Settings()),
    config=PartitionedConfig(
        partitions_def=videos,
        run_config_for_partition_key_fn=lambda _: {},
        tags_for_partition_key_fn=lambda video_id: {VIDEO_TAG: video_id},
    ),
)
