"""The daily Spark aggregation (`daily_viewing`, through the connector at `LOCAL_QUORUM`) over
the three-node ring gives the same counts with one node down as with all three up."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from devstack import cassandra
from reelflow import connect
from reelflow.settings import Settings
from storage.engagement import ENGAGEMENT, INTERACTIONS, read_partition
from storage.objects import LocalObjectStore
from storage.seed import seed_events
from tests.fixtures.daily_viewing import materialize_daily_viewing
from tests.fixtures.load import wait_until
from tests.fixtures.ring import kill, seen_down

# A recent day, whatever the date: the stage refuses days whose events are past their TTL.
DAY = datetime.now(UTC).date() - timedelta(days=1)
CHECKS = [
    "events_match_cassandra",
    "no_negative_durations",
    "progress_within_bounds",
    "completion_within_bounds",
    "views_at_most_events",
]


def aggregate(
    ring: Settings, objects: Path
) -> tuple[dict[str, object], pd.DataFrame, pd.DataFrame]:
    """Materialize the day's partition into `objects`; the run's outcome, the per-video
    engagement and the per-viewer interactions."""
    settings = ring.model_copy(update={"object_store": "local", "object_store_dir": objects})
    env = os.environ | settings.as_environment() | {"PYSPARK_PYTHON": sys.executable}
    env.pop("SPARK_HOME", None)
    outcome = materialize_daily_viewing(env, DAY)
    store = LocalObjectStore(objects, settings.cdn_base_url, b"unused")
    engagement = read_partition(store, ENGAGEMENT, DAY)
    interactions = read_partition(store, INTERACTIONS, DAY)
    assert engagement is not None and interactions is not None
    return outcome, engagement, interactions


def test_the_day_aggregates_to_the_same_counts_with_a_node_down(
    ring: Settings, whole_ring: list[cassandra.Cassandra], tmp_path: Path
) -> None:
    with connect.history(ring) as history:
        seeded = seed_events(history, users=40, videos=12, days=1, last_day=DAY, seed=14)
    all_up = aggregate(ring, tmp_path / "all-up")

    lost = whole_ring[2]
    kill(lost)
    wait_until(lambda: seen_down(whole_ring[0], [lost.host]), 60, "the node seen down")
    one_down = aggregate(ring, tmp_path / "one-down")

    print(
        f"{seeded.reports} events of {seeded.users} viewers on {DAY}: all up "
        f"{all_up[0]['events']} read, {len(all_up[1])} videos, {len(all_up[2])} viewer rows; "
        f"{lost.host} down {one_down[0]['events']} read, {len(one_down[1])} videos, "
        f"{len(one_down[2])} viewer rows"
    )
    for outcome in (all_up[0], one_down[0]):
        assert outcome["success"] is True
        assert outcome["events"] == seeded.reports
        assert outcome["checks"] == dict.fromkeys(CHECKS, True)
    pd.testing.assert_frame_equal(all_up[1], one_down[1])
    pd.testing.assert_frame_equal(all_up[2], one_down[2])
