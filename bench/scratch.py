"""A scratch database and keyspace on the dev stack, for benchmarks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from reelflow.settings import Settings
from storage.history import DDL_TIMEOUT_S, apply_schema, open_session
from storage.migrate import upgrade


@contextmanager
def scratch_settings(base: Settings, directory: Path, *, keep: bool) -> Iterator[Settings]:
    """Settings on a new, migrated database and a new keyspace of the dev stack."""
    name = f"reelflow_bench_{secrets.token_hex(4)}"
    with psycopg.connect(base.postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = urlunsplit(urlsplit(base.postgres_dsn)._replace(path=f"/{name}"))
    session = open_session(base)
    try:
        upgrade(dsn)
        apply_schema(session, name, base.cassandra_replication)
        yield base.model_copy(
            update={
                "postgres_dsn": dsn,
                "cassandra_keyspace": name,
                "object_store": "local",
                "object_store_dir": directory / "objects",
                "state_dir": directory / "state",
            }
        )
    finally:
        if keep:
            print(f"kept database and keyspace {name}")
        else:
            session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=DDL_TIMEOUT_S)
            with psycopg.connect(base.postgres_dsn, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        session.cluster.shutdown()
