"""Jobs, selected by asset group."""

from dagster import AssetSelection, define_asset_job

from assets.ingest import GROUP as MEDIA

# One video's whole media lifecycle. Re-processing is this job on one partition (or a
# backfill over many) from the UI or `dagster job backfill`.
media_lifecycle = define_asset_job(
    "media_lifecycle",
    selection=AssetSelection.groups(MEDIA),
    tags={"reelflow/stage": "transcode"},
)
