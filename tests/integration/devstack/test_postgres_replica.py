"""The dev stack's PostgreSQL standby, on its own ports and state dir: a base backup of the
primary, then every committed change streamed to it; reads only; `down` stops it."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from devstack import services
from devstack.postgres import Postgres, PostgresReplica
from reelflow.settings import Settings
from tests.fixtures.catalog import on_port

# Beside the shared stack's server (and the other dev stack test's), so all can run at once.
PRIMARY_PORT = (urlsplit(Settings().postgres_dsn).port or 5432) + 300
DSN = f"postgresql://replicatest:replicatest-pw@127.0.0.1:{PRIMARY_PORT}/replicatest"


@pytest.fixture(scope="module")
def pair(settings: Settings) -> Iterator[Settings]:
    state = settings.state_dir / "replica-test"
    shutil.rmtree(state, ignore_errors=True)
    stack = Settings(
        state_dir=state, postgres_dsn=DSN, postgres_replica_dsn=on_port(DSN, PRIMARY_PORT + 1)
    )
    primary = Postgres(stack)
    replica = PostgresReplica(stack, primary)
    try:
        services.start([primary, replica])
        yield stack
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(state, ignore_errors=True)


def wait_for(read: psycopg.Connection, query: str, expected: object) -> None:
    """Until the standby answers `query` with `expected` (a new table may not be there yet)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            found: object = read.execute(query).fetchone()
        except psycopg.errors.UndefinedTable as missing:
            found = missing
        if found == expected:
            return
        assert time.monotonic() < deadline, f"the standby still shows {found}, not {expected}"
        time.sleep(0.1)


def test_the_standby_streams_the_primarys_changes_and_takes_no_writes(pair: Settings) -> None:
    assert pair.postgres_replica_dsn is not None
    with (
        psycopg.connect(pair.postgres_dsn, autocommit=True) as write,
        psycopg.connect(pair.postgres_replica_dsn, autocommit=True) as read,
    ):
        assert read.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert write.execute(
            "SELECT application_name, state FROM pg_stat_replication"
        ).fetchall() == [("postgres-replica", "streaming")]
        write.execute("CREATE TABLE IF NOT EXISTS marks (n int)")
        write.execute("INSERT INTO marks VALUES (1), (2), (3)")
        wait_for(read, "SELECT count(*) FROM marks", (3,))
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            read.execute("INSERT INTO marks VALUES (4)")


def test_a_restarted_standby_catches_up_and_down_stops_it(pair: Settings) -> None:
    assert pair.postgres_replica_dsn is not None
    replica = next(s for s in services.services(pair) if s.name == "postgres-replica")
    assert replica.stop()
    with psycopg.connect(pair.postgres_dsn, autocommit=True) as write:
        write.execute("CREATE TABLE IF NOT EXISTS later (n int)")
        write.execute("INSERT INTO later VALUES (1)")
    services.start([replica])
    with psycopg.connect(pair.postgres_replica_dsn, autocommit=True) as read:
        wait_for(read, "SELECT count(*) FROM later", (1,))
    # Unset, the standby is not part of the stack, but `down` still stops what it left running.
    unset = pair.model_copy(update={"postgres_replica_dsn": None})
    assert "postgres-replica" not in {s.name for s in services.status(unset)}
    assert "postgres-replica" in services.down(unset)
