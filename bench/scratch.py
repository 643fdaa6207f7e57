"""For benchmarks: a scratch database and keyspace on the dev stack, and videos without media."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import psycopg
from psycopg import sql

from reelflow import connect, layout
from reelflow.settings import Settings
from storage.catalog import Catalog, NewStreamAsset, StreamFormat, Video, Visibility
from storage.keyspace import DDL_TIMEOUT_S, apply_schema
from storage.migrate import upgrade
from storage.objects import new_version


@contextmanager
def scratch_settings(base: Settings, directory: Path, *, keep: bool) -> Iterator[Settings]:
    """Settings on a new, migrated database and a new keyspace of the dev stack."""
    name = f"reelflow_bench_{secrets.token_hex(4)}"
    with psycopg.connect(base.postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = urlunsplit(urlsplit(base.postgres_dsn)._replace(path=f"/{name}"))
    session = connect.cassandra_session(base)
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


def publish_rows_only(
    catalog: Catalog,
    settings: Settings,
    creator_id: UUID,
    title: str,
    *,
    tags: list[str],
    description: str = "",
) -> Video:
    """A public video published with catalog rows only: two rungs in HLS and DASH, a poster.

    No media exists behind the URLs; the endpoints measured read rows and sign URLs, they never
    open the streams.
    """
    video = catalog.create_video(
        creator_id, title, description=description, tags=tags, visibility=Visibility.PUBLIC
    )
    version = new_version()
    cdn = settings.cdn_base_url.rstrip("/")
    assets = [
        NewStreamAsset(
            width=width,
            height=height,
            bitrate=height * 2_000,
            codec="avc1.64001f",
            format=stream_format,
            cdn_url=f"{cdn}/{layout.stream_key(video.id, version, name)}",
        )
        for width, height in ((640, 360), (1280, 720))
        for stream_format, name in (
            (StreamFormat.HLS, layout.HLS_MASTER_NAME),
            (StreamFormat.DASH, layout.MPD_NAME),
        )
    ]
    poster = f"{cdn}/{layout.thumbs_key(video.id, version, layout.POSTER_NAME)}"
    return catalog.publish_video(video.id, version, assets, poster, 600.0)
