"""The Spark-over-Cassandra path: one day of watch events read through the connector."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

from dagster import materialize

from assets.engagement import daily_watch_events
from pipelines.resources import HistoryResource, resources_for
from reelflow.settings import Settings
from storage.history import History

DAY = date(2026, 11, 1)


def test_daily_watch_events_returns_the_rows_written_that_day(
    settings: Settings, history: History, history_keyspace: str
) -> None:
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    users = [uuid4() for _ in range(6)]  # enough users to land in several buckets
    video = uuid4()
    for n, user in enumerate(users):
        session = uuid4()
        for step in range(1, 3):
            history.record_watch(
                user,
                video,
                10.0 * step,
                120.0,
                watched_delta_s=10.0,
                session_id=session,
                at=start + timedelta(minutes=n, seconds=10 * step),
            )
    # Another day's events must not be read.
    history.record_watch(
        users[0],
        video,
        50.0,
        120.0,
        watched_delta_s=5.0,
        session_id=uuid4(),
        at=start + timedelta(days=1),
    )
    expected = {(str(e.event_id), e.position_s) for e in history.events_for_day(DAY)}
    assert len(expected) == 12
    assert len({e.bucket for e in history.events_for_day(DAY)}) > 1

    resources = resources_for(settings) | {
        "history": HistoryResource(
            contact_points=settings.cassandra_contact_points,
            port=settings.cassandra_port,
            keyspace=history_keyspace,
            replication=settings.cassandra_replication,
            event_buckets=settings.cassandra_event_buckets,
            watch_event_ttl_days=settings.watch_event_ttl_days,
        )
    }
    result = materialize([daily_watch_events], partition_key=DAY.isoformat(), resources=resources)

    assert result.success
    rows = result.output_for_node("daily_watch_events")
    assert {(str(r.event_id), r.position_s) for r in rows.itertuples()} == expected
    assert set(rows["day"].astype(str)) == {DAY.isoformat()}

    materialization = result.asset_materializations_for_node("daily_watch_events")[0]
    assert materialization.metadata["events"].value == 12
    assert materialization.metadata["users"].value == 6
    plan = materialization.metadata["physical_plan"].value
    # The day and its buckets are pushed down to Cassandra: no full-table scan.
    assert "Cassandra Filters" in plan and '"day" = ?' in plan and '"bucket" IN' in plan
