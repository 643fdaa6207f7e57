"""The community stage: known ratings and playlist additions in PostgreSQL -> exact Parquet rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import ExecuteInProcessResult, materialize

from assets.community import daily_video_community
from pipelines.resources import resources_for
from reelflow.settings import Settings
from storage.catalog import Catalog
from storage.community import COMMUNITY, COMMUNITY_SCHEMA
from storage.engagement import read_partition
from storage.objects import LocalObjectStore
from tests.fixtures.api_module import isolated_api_settings

DAY = date(2026, 3, 10)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def isolated(
    dev_stack: Settings, migrated_template: str, api_keyspace: str, tmp_path: Path
) -> Iterator[Settings]:
    with isolated_api_settings(dev_stack, migrated_template, api_keyspace, tmp_path) as isolated:
        yield isolated


def run(settings: Settings, day: date) -> ExecuteInProcessResult:
    result = materialize(
        [daily_video_community], partition_key=day.isoformat(), resources=resources_for(settings)
    )
    assert result.success
    return result


def test_a_day_of_ratings_and_saves_gives_exact_rows_and_reruns_alike(
    isolated: Settings, tmp_path: Path
) -> None:
    settings = isolated
    store = LocalObjectStore(settings.objects_dir, settings.cdn_base_url, b"unused")
    with Catalog(settings.postgres_dsn, max_size=2) as catalog:
        owner = catalog.create_user("creator@example.com", "hash")
        ann = catalog.create_user("ann@example.com", "hash")
        bob = catalog.create_user("bob@example.com", "hash")
        liked = catalog.create_video(owner.id, "Liked")
        saved = catalog.create_video(owner.id, "Saved")
        catalog.rate_video(ann.id, liked.id, 1, at=at(9, 20))
        catalog.rate_video(bob.id, liked.id, -1, at=at(10, 1))
        catalog.rate_video(bob.id, liked.id, 1, at=at(10, 2))
        catalog.rate_video(owner.id, liked.id, -1, at=at(10, 3))
        later = catalog.watch_later(ann.id)
        catalog.add_playlist_item(later.id, saved.id, at=at(10, 4))
        catalog.add_playlist_item(
            catalog.create_playlist(bob.id, "Mine").id, saved.id, at=at(10, 5)
        )

        result = run(settings, DAY)
        first = read_partition(store, COMMUNITY, DAY)
        # A change on a later day leaves the day's totals as they were.
        catalog.unrate_video(ann.id, liked.id, at=at(11, 0))
        run(settings, DAY)
        again = read_partition(store, COMMUNITY, DAY)

    assert first is not None and again is not None
    metadata = result.asset_materializations_for_node("daily_video_community")[0].metadata
    assert first.to_dict("records") == sorted(
        [
            {
                "video_id": str(liked.id),
                "likes": 2,
                "dislikes": 1,
                "likes_added": 1,
                "dislikes_added": 2,
                "playlist_adds": 0,
            },
            {
                "video_id": str(saved.id),
                "likes": 0,
                "dislikes": 0,
                "likes_added": 0,
                "dislikes_added": 0,
                "playlist_adds": 2,
            },
        ],
        key=lambda row: str(row["video_id"]),
    )
    assert again.equals(first)
    stored = tmp_path / "stored.parquet"
    store.download(str(metadata["object_key"].value), stored)
    assert pq.read_schema(stored).equals(COMMUNITY_SCHEMA, check_metadata=False)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "no_negative_counts": True,
        "unique_video_id": True,
        "totals_match_ratings": True,
    }
    assert metadata["dagster/row_count"].value == 2
    assert metadata["playlist_adds"].value == 2


def test_a_day_without_activity_writes_an_empty_partition(isolated: Settings) -> None:
    settings = isolated
    store = LocalObjectStore(settings.objects_dir, settings.cdn_base_url, b"unused")
    run(settings, date(2025, 6, 1))
    empty = read_partition(store, COMMUNITY, date(2025, 6, 1))
    assert empty is not None and empty.empty
