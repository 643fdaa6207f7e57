"""Jobs of the viewing-history stage, selected by asset group."""

from dagster import AssetSelection, define_asset_job

from assets.engagement import GROUP as ENGAGEMENT

# One day of viewing aggregates: interactions, engagement and trending, in dependency order.
# Its partitions are the assets' daily ones, so a backfill over a date range is this job on
# many partitions, from the UI.
engagement_daily = define_asset_job(
    "engagement_daily",
    # The raw events are written by the API; only what Dagster materializes is selected.
    selection=AssetSelection.groups(ENGAGEMENT).materializable(),
    tags={"reelflow/stage": "engagement"},
)
