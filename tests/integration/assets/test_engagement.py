"""The engagement stage: known watch events in Cassandra -> exact Parquet and Postgres rows.

The expected numbers are worked out by hand from the events each test writes. Every scenario
uses its own days (and erasure its own user), so the tests share one keyspace, one catalog
database and one Spark session without depending on one another's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pandas as pd
import psycopg
import pytest
from cassandra.cluster import Session
from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    SensorResult,
    build_sensor_context,
    materialize,
)

from assets.engagement import daily_viewing, trending_videos
from assets.resources import CatalogResource
from pipelines.resources import resources_for
from pipelines.sensors import erasure_sensor
from reelflow.settings import Settings
from storage.catalog import Catalog
from storage.engagement import (
    ENGAGEMENT,
    INTERACTIONS,
    TRENDING,
    partition_folder,
    pseudonym,
    pseudonym_key,
    read_partition,
    write_partition,
)
from storage.history import History
from storage.keyspace import apply_schema
from storage.objects import LocalObjectStore
from storage.trending import top_trending
from tests.fixtures.api_module import isolated_api_settings

# Recent days, whatever the date: the stage refuses days whose events are past their TTL, and
# days after tomorrow are no partitions yet.
DAY1 = datetime.now(UTC).date() - timedelta(days=30)
DAY2 = DAY1 + timedelta(days=1)
LATE_DAY = DAY1 + timedelta(days=4)
ERASURE_DAY = DAY1 + timedelta(days=5)
SQRT_HALF = 0.5**0.5  # weight of one-day-old views with a two-day half-life


@dataclass
class Env:
    settings: Settings
    history: History
    store: LocalObjectStore
    dsn: str
    v1: UUID  # 100 s, in the catalog
    v2: UUID  # 20 s, in the catalog
    v3: UUID  # 80 s, not in the catalog

    def materialize(
        self,
        day: date,
        *,
        trending: bool = False,
        succeed: bool = True,
        instance: DagsterInstance | None = None,
    ) -> ExecuteInProcessResult:
        assets = [daily_viewing, trending_videos] if trending else [daily_viewing]
        result = materialize(
            assets,
            partition_key=day.isoformat(),
            resources=resources_for(self.settings),
            instance=instance,
            raise_on_error=False,
        )
        assert result.success == succeed
        return result

    def watch(
        self,
        user: UUID,
        video: UUID,
        session: UUID,
        steps: list[tuple[str, float, float, datetime]],
        duration: float,
    ) -> None:
        """(event type, position, watched delta, time) reports of one viewer."""
        for event_type, position, delta, at in steps:
            self.history.record_watch(
                user,
                video,
                position,
                duration,
                watched_delta_s=delta,
                session_id=session,
                event_type=event_type,
                at=at,
            )

    def key(self) -> bytes:
        return pseudonym_key(self.settings.analytics_pseudonym_key.get_secret_value())


@pytest.fixture(scope="module")
def keyspace(cassandra_session: Session, settings: Settings) -> Iterator[str]:
    name = f"reelflow_test_{uuid4().hex[:16]}"
    apply_schema(
        cassandra_session,
        name,
        settings.cassandra_replication,
        event_ttl_days=settings.watch_event_ttl_days,
    )
    yield name
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {name}")


@pytest.fixture(scope="module")
def env(
    cassandra_session: Session,
    keyspace: str,
    dev_stack: Settings,
    migrated_template: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("analytics")
    with isolated_api_settings(dev_stack, migrated_template, keyspace, directory) as settings:
        dsn = settings.postgres_dsn
        with Catalog(dsn, max_size=2) as catalog:
            owner = catalog.create_user("creator@example.com", "hash")
            v1 = catalog.create_video(owner.id, "Hundred seconds").id
            v2 = catalog.create_video(owner.id, "Twenty seconds").id
        with psycopg.connect(dsn) as conn:
            # Playable, as the trending reader requires; publishing itself is tested elsewhere.
            conn.execute(
                "UPDATE videos SET visibility = 'public', encoding_status = 'ready', "
                "published_version = 'v1', published_at = now()"
            )
        history = History(
            cassandra_session,
            keyspace,
            buckets=settings.cassandra_event_buckets,
            event_ttl_days=settings.watch_event_ttl_days,
        )
        store = LocalObjectStore(settings.objects_dir, settings.cdn_base_url, b"unused")
        yield Env(settings, history, store, dsn, v1, v2, uuid4())


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def by_video(frame: pd.DataFrame, video: UUID) -> dict[str, object]:
    rows = frame[frame["video_id"] == str(video)].to_dict("records")
    assert len(rows) == 1
    return rows[0]


def checks_passed(result: ExecuteInProcessResult) -> dict[str, bool]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


def test_two_days_of_known_events_give_exact_aggregates_everywhere(env: Env) -> None:
    alice, bob, carol, dave = (uuid4() for _ in range(4))
    s1, s2, s3, s4, s5, s6, s7 = (uuid4() for _ in range(7))
    v1, v2, v3 = env.v1, env.v2, env.v3
    # Day 1. alice finishes v1 (100 s), then plays 5 s of v2 in the same session.
    env.watch(
        alice,
        v1,
        s1,
        [
            ("start", 0, 0, at(DAY1, 10)),
            ("progress", 10, 10, at(DAY1, 10, 0, 10)),
            ("progress", 40, 30, at(DAY1, 10, 0, 40)),
            ("ended", 100, 60, at(DAY1, 10, 1, 40)),
        ],
        100,
    )
    env.watch(
        alice,
        v2,
        s1,
        [("start", 0, 0, at(DAY1, 10, 2)), ("progress", 5, 5, at(DAY1, 10, 2, 5))],
        20,
    )
    # bob: 20 s, then 15 s more in a second session: 35 s, one view.
    env.watch(
        bob, v1, s2, [("start", 0, 0, at(DAY1, 11)), ("progress", 20, 20, at(DAY1, 11, 0, 20))], 100
    )
    env.watch(
        bob, v1, s3, [("start", 20, 0, at(DAY1, 12)), ("pause", 35, 15, at(DAY1, 12, 0, 15))], 100
    )
    # carol: 19.5 s of the 20 s v2: shorter than 30 s, so 95 % of it is a view; finished.
    env.watch(
        carol,
        v2,
        s4,
        [
            ("start", 0, 0, at(DAY1, 13)),
            ("progress", 10, 10, at(DAY1, 13, 0, 10)),
            ("progress", 19.5, 9.5, at(DAY1, 13, 0, 19)),
        ],
        20,
    )
    # Day 2. dave 50 s of v1; alice watches 30 s of v1 again; carol 40 s of v3 (80 s).
    env.watch(
        dave, v1, s5, [("start", 0, 0, at(DAY2, 9)), ("progress", 50, 50, at(DAY2, 9, 0, 50))], 100
    )
    env.watch(
        alice,
        v1,
        s6,
        [("start", 0, 0, at(DAY2, 20)), ("progress", 30, 30, at(DAY2, 20, 0, 30))],
        100,
    )
    env.watch(
        carol,
        v3,
        s7,
        [("start", 0, 0, at(DAY2, 21)), ("progress", 40, 40, at(DAY2, 21, 0, 40))],
        80,
    )

    day1 = env.materialize(DAY1)
    day2 = env.materialize(DAY2, trending=True)

    engagement1 = read_partition(env.store, ENGAGEMENT, DAY1)
    assert engagement1 is not None and list(engagement1["video_id"]) == sorted([str(v1), str(v2)])
    assert by_video(engagement1, v1) == {
        "video_id": str(v1),
        "events": 8,
        "views": 2,
        "unique_viewers": 2,
        "sessions": 3,
        "watched_s": 135.0,
        "median_watched_s": 67.5,
        "avg_completion": pytest.approx(0.675),
        "finishes": 1,
        "duration_s": 100.0,
    }
    assert by_video(engagement1, v2) == {
        "video_id": str(v2),
        "events": 5,
        "views": 1,
        "unique_viewers": 2,
        "sessions": 2,
        "watched_s": 24.5,
        "median_watched_s": 12.25,
        "avg_completion": pytest.approx(0.6125),
        "finishes": 1,
        "duration_s": 20.0,
    }
    engagement2 = read_partition(env.store, ENGAGEMENT, DAY2)
    assert engagement2 is not None and len(engagement2) == 2
    v1_day2 = by_video(engagement2, v1)
    assert (v1_day2["events"], v1_day2["views"], v1_day2["unique_viewers"]) == (4, 2, 2)
    assert (v1_day2["watched_s"], v1_day2["median_watched_s"], v1_day2["finishes"]) == (80, 40, 0)
    assert v1_day2["avg_completion"] == pytest.approx(0.4)
    v3_day2 = by_video(engagement2, v3)
    assert (v3_day2["views"], v3_day2["watched_s"], v3_day2["avg_completion"]) == (1, 40, 0.5)

    key = env.key()
    interactions = read_partition(env.store, INTERACTIONS, DAY1)
    assert interactions is not None
    rows = {(r["user_pseudonym"], r["video_id"]): r for r in interactions.to_dict("records")}
    assert set(rows) == {
        (pseudonym(alice, key), str(v1)),
        (pseudonym(alice, key), str(v2)),
        (pseudonym(bob, key), str(v1)),
        (pseudonym(carol, key), str(v2)),
    }
    bob_v1 = rows[(pseudonym(bob, key), str(v1))]
    assert {k: bob_v1[k] for k in ("events", "sessions", "watched_s", "max_position_s")} == {
        "events": 4,
        "sessions": 2,
        "watched_s": 35.0,
        "max_position_s": 35.0,
    }
    assert (bob_v1["viewed"], bob_v1["finished"]) == (True, False)
    assert bob_v1["max_progress"] == pytest.approx(0.35)
    assert bob_v1["first_watched_at"] == pd.Timestamp(at(DAY1, 11))
    assert bob_v1["last_watched_at"] == pd.Timestamp(at(DAY1, 12, 0, 15))
    alice_v2 = rows[(pseudonym(alice, key), str(v2))]
    assert (alice_v2["viewed"], alice_v2["finished"], alice_v2["completion"]) == (
        False,
        False,
        0.25,
    )
    carol_v2 = rows[(pseudonym(carol, key), str(v2))]
    assert (carol_v2["viewed"], carol_v2["finished"], carol_v2["completion"]) == (True, True, 0.975)
    # No user id leaves Cassandra: only pseudonyms are in the dataset.
    assert str(alice) not in interactions.to_csv()

    # Trending on day 2: v1 = 2 + 2 * 0.5 ** (1/2), v3 = 1, v2 = 1 * 0.5 ** (1/2).
    trending = read_partition(env.store, TRENDING, DAY2)
    assert trending is not None
    assert list(trending["video_id"]) == [str(v1), str(v3), str(v2)]
    assert list(trending["rank"]) == [1, 2, 3]
    assert list(trending["score"]) == pytest.approx([2 + 2 * SQRT_HALF, 1.0, SQRT_HALF])
    assert list(trending["window_views"]) == [4, 1, 1]
    with psycopg.connect(env.dsn) as conn:
        stored = conn.execute(
            "SELECT video_id, rank FROM trending_videos WHERE day = %s ORDER BY rank", (DAY2,)
        ).fetchall()
        # v3 is not in the catalog: skipped, and the others keep their ranks.
        assert stored == [(v1, 1), (v2, 3)]
        assert [t.video_id for t in top_trending(conn, 10)] == [v1, v2]

    # Every check passed, and Spark read exactly the day's partitions.
    for result in (day1, day2):
        assert checks_passed(result) == {
            "user_video_interactions:events_match_cassandra": True,
            "user_video_interactions:no_negative_durations": True,
            "user_video_interactions:progress_within_bounds": True,
            "daily_video_engagement:completion_within_bounds": True,
            "daily_video_engagement:no_negative_durations": True,
            "daily_video_engagement:views_at_most_events": True,
        }
    materialization = day1.asset_materializations_for_node("daily_viewing")[0]
    assert materialization.asset_key == AssetKey(INTERACTIONS)
    assert materialization.metadata["events"].value == 13
    plan = materialization.metadata["physical_plan"].value
    assert "Cassandra Filters" in plan and '"day" = ?' in plan and '"bucket" IN' in plan

    # The partition is one Parquet object that analysts read as a hive-partitioned dataset.
    assert env.store.list(partition_folder(ENGAGEMENT, DAY1)) == [
        f"analytics/daily_video_engagement/day={DAY1.isoformat()}/part-00000.parquet"
    ]
    dataset = pd.read_parquet(env.store.root / "analytics" / ENGAGEMENT)
    assert sorted(dataset["day"].astype(str).unique()) == [DAY1.isoformat(), DAY2.isoformat()]

    # Re-running a day writes the same bytes.
    key1 = f"{partition_folder(INTERACTIONS, DAY1)}/part-00000.parquet"
    before = (
        env.store.get_bytes(key1),
        env.store.get_bytes(key1.replace(INTERACTIONS, ENGAGEMENT)),
    )
    env.materialize(DAY1)
    after = (env.store.get_bytes(key1), env.store.get_bytes(key1.replace(INTERACTIONS, ENGAGEMENT)))
    assert after == before


def test_a_late_event_is_included_when_its_day_is_run_again(env: Env) -> None:
    early, late = uuid4(), uuid4()
    env.watch(
        early,
        env.v1,
        uuid4(),
        [("start", 0, 0, at(LATE_DAY, 8)), ("progress", 40, 40, at(LATE_DAY, 8, 0, 40))],
        100,
    )
    env.materialize(LATE_DAY)
    first = read_partition(env.store, ENGAGEMENT, LATE_DAY)
    assert first is not None and list(first["views"]) == [1]

    # Played offline at 23:50 that day, synced after the day was aggregated.
    env.watch(
        late,
        env.v1,
        uuid4(),
        [("start", 0, 0, at(LATE_DAY, 23, 50)), ("ended", 100, 100, at(LATE_DAY, 23, 51, 40))],
        100,
    )
    env.materialize(LATE_DAY)

    second = read_partition(env.store, ENGAGEMENT, LATE_DAY)
    assert second is not None
    row = by_video(second, env.v1)
    assert (row["events"], row["views"], row["finishes"], row["watched_s"]) == (4, 2, 1, 140.0)


def test_an_erasure_rebuilds_the_days_that_held_the_user(env: Env) -> None:
    erin, frank = uuid4(), uuid4()
    for user, video, seconds, duration in ((erin, env.v2, 20, 20), (frank, env.v1, 45, 100)):
        env.watch(
            user,
            video,
            uuid4(),
            [
                ("start", 0, 0, at(ERASURE_DAY, 18)),
                ("progress", seconds, seconds, at(ERASURE_DAY, 18, 1)),
            ],
            duration,
        )
    instance = DagsterInstance.ephemeral()
    env.materialize(ERASURE_DAY, instance=instance)
    key = env.key()
    before = read_partition(env.store, INTERACTIONS, ERASURE_DAY)
    assert before is not None and pseudonym(erin, key) in set(before["user_pseudonym"])

    # What the account's erasure does, then what the pipeline does about it.
    days = env.history.erase_user(erin)
    with Catalog(env.dsn, max_size=1) as catalog:
        catalog.request_analytics_erasure(days)
    resources = {"catalog": CatalogResource(dsn=env.dsn)}
    with build_sensor_context(instance=instance, resources=resources) as context:
        sensed = erasure_sensor(context)
    assert isinstance(sensed, SensorResult) and sensed.run_requests
    assert [r.partition_key for r in sensed.run_requests] == [ERASURE_DAY.isoformat()]
    env.materialize(ERASURE_DAY, instance=instance)

    after = read_partition(env.store, INTERACTIONS, ERASURE_DAY)
    engagement = read_partition(env.store, ENGAGEMENT, ERASURE_DAY)
    assert after is not None and engagement is not None
    assert list(after["user_pseudonym"]) == [pseudonym(frank, key)]
    assert list(engagement["video_id"]) == [str(env.v1)]


def test_a_day_without_events_has_an_empty_partition(env: Env) -> None:
    empty = DAY1 - timedelta(days=31)
    result = env.materialize(empty)
    assert checks_passed(result)["user_video_interactions:events_match_cassandra"]
    frame = read_partition(env.store, INTERACTIONS, empty)
    # A day without events still has a (header-only) partition that reads back empty.
    assert frame is not None and frame.empty
    assert list(frame.columns)[:2] == ["user_pseudonym", "video_id"]


def test_a_day_whose_events_expired_is_not_replaced(env: Env) -> None:
    ttl = env.settings.watch_event_ttl_days
    expired = datetime.now(UTC).date() - timedelta(days=ttl)
    kept = pd.DataFrame({"rank": [1], "video_id": ["v"], "score": [1.0], "window_views": [1]})
    write_partition(env.store, TRENDING, expired, kept)
    engagement_key = f"{partition_folder(ENGAGEMENT, expired)}/part-00000.parquet"
    env.store.put_bytes(engagement_key, b"the aggregate computed while the events existed")

    result = env.materialize(expired, trending=True, succeed=False)

    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.error is not None
    assert "TTL" in failure.step_failure_data.error.message
    assert env.store.get_bytes(engagement_key) == b"the aggregate computed while the events existed"
    assert read_partition(env.store, TRENDING, expired) is not None
