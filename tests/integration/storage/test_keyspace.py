"""The history keyspace's schema on a real Cassandra node: versions applied once, event TTLs."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from cassandra.cluster import Session

from reelflow.settings import Settings
from storage.history import History
from storage.keyspace import apply_schema, replication_map, schema_files

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


def test_apply_schema_twice_is_harmless_and_records_versions(
    cassandra_session: Session, history_keyspace: str, settings: Settings
) -> None:
    every_file = [path.stem for _, path in schema_files()]
    assert every_file[0] == "0001_history"

    first = apply_schema(cassandra_session, history_keyspace, settings.cassandra_replication)
    history = History(cassandra_session, history_keyspace)
    user, video = uuid4(), uuid4()
    history.record_watch(
        user, video, 42.0, 600.0, watched_delta_s=10.0, session_id=uuid4(), at=T0, client="test"
    )
    second = apply_schema(cassandra_session, history_keyspace, settings.cassandra_replication)

    assert first == every_file
    assert second == []
    recorded = cassandra_session.execute(
        f"SELECT version, name, applied_at FROM {history_keyspace}.schema_version"
    ).all()
    assert sorted((row.version, row.name) for row in recorded) == [
        (version, path.stem) for version, path in schema_files()
    ]
    assert all(row.applied_at is not None for row in recorded)
    progress = history.get_progress(user, video)
    assert progress is not None
    assert progress.position_s == 42.0


def test_apply_schema_sets_the_event_ttl(
    cassandra_session: Session, history_keyspace: str, settings: Settings
) -> None:
    apply_schema(cassandra_session, history_keyspace, settings.cassandra_replication)
    apply_schema(
        cassandra_session, history_keyspace, settings.cassandra_replication, event_ttl_days=30
    )

    ttl = dict(
        cassandra_session.execute(
            "SELECT table_name, default_time_to_live FROM system_schema.tables "
            "WHERE keyspace_name = %s",
            (history_keyspace,),
        ).all()
    )
    assert ttl["watch_events_by_day"] == ttl["event_days_by_user"] == 30 * 86_400
    assert ttl["progress_by_user_video"] == ttl["history_by_user"] == 0


def test_migrating_brings_the_keyspace_to_the_configured_replication(
    cassandra_session: Session, history_keyspace: str, settings: Settings
) -> None:
    def replication() -> dict[str, str]:
        row = cassandra_session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (history_keyspace,),
        ).one()
        return dict(row.replication)

    simple = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    apply_schema(cassandra_session, history_keyspace, simple)
    assert replication()["class"].endswith(".SimpleStrategy")
    # Created under another replication, it is altered, not left as it was created.
    apply_schema(cassandra_session, history_keyspace, settings.cassandra_replication)
    assert replication() == {
        "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
        settings.cassandra_local_dc: "1",
    }
    assert replication_map(settings.cassandra_replication) == {
        "class": "NetworkTopologyStrategy",
        settings.cassandra_local_dc: "1",
    }
    with pytest.raises(ValueError, match="names no 'class'"):
        replication_map("{'datacenter1': 3}")
