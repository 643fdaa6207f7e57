"""Jobs of the viewing-history and recommendation stages, selected by asset group."""

from dagster import AssetSelection, define_asset_job

from assets.community import GROUP as COMMUNITY
from assets.engagement import GROUP as ENGAGEMENT
from assets.playback import GROUP as PLAYBACK
from assets.recommendations import GROUP as RECOMMENDATIONS

# One day of viewing aggregates: interactions, engagement and trending, in dependency order,
# the day's ratings and playlist additions, and its playback quality.
# Its partitions are the assets' daily ones, so a backfill over a date range is this job on
# many partitions, from the UI.
engagement_daily = define_asset_job(
    "engagement_daily",
    # The raw events are written by the API; only what Dagster materializes is selected.
    selection=AssetSelection.groups(ENGAGEMENT, COMMUNITY, PLAYBACK).materializable(),
    tags={"reelflow/stage": "engagement"},
)

# Train a model on the recent interactions, check it, and promote it if it passes.
train_recommendations = define_asset_job(
    "train_recommendations",
    selection=AssetSelection.groups(RECOMMENDATIONS),
    tags={"reelflow/stage": "recommendations"},
)
