"""The demo's selection of assets and partitions, read from the code location's definitions."""

from __future__ import annotations

from datetime import date

from dagster import AssetKey

from assets.engagement import daily_partitions
from cli.demo.lifecycle import daily_assets, day_partition, definitions, unpartitioned_assets
from pipelines.jobs import caption_update, media_lifecycle


def test_the_daily_and_unpartitioned_assets_are_the_code_locations() -> None:
    defs = definitions()
    graph = defs.resolve_asset_graph()
    daily = daily_assets(defs)
    assert daily and all(graph.get(key).partitions_def == daily_partitions for key in daily)
    assert day_partition(date(2026, 1, 2)) in daily_partitions.get_partition_keys()
    unpartitioned = unpartitioned_assets(defs)
    assert {AssetKey("recommendation_model"), AssetKey("promoted_model")} <= set(unpartitioned)
    # With the media partitions, they are every asset the demo must materialize; a video's
    # caption updates run only when its captions change.
    media = defs.resolve_job_def(media_lifecycle.name).asset_layer.executable_asset_keys
    captions = defs.resolve_job_def(caption_update.name).asset_layer.executable_asset_keys
    materializable = {key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert set(daily) | set(unpartitioned) | set(media) == materializable - set(captions)
