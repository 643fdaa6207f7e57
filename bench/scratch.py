"""For benchmarks: a scratch database and keyspace on the dev stack, a Cassandra ring of their
own, and videos without media."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID, uuid4

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from devstack import cassandra, services
from reelflow import connect, layout
from reelflow.settings import Settings
from storage.catalog import (
    Catalog,
    EncodingStatus,
    NewStreamAsset,
    StreamFormat,
    Video,
    Visibility,
)
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


# Beside the dev stack's node and the test suite's ring.
RING_PORT_OFFSET = 300


@contextmanager
def scratch_ring(base: Settings, nodes: int) -> Iterator[Settings]:
    """Settings on a Cassandra ring of `nodes` nodes (RF `nodes`), started for the block on
    ports and a state dir of its own, then stopped and removed."""
    state = base.state_dir / "bench-ring"
    shutil.rmtree(state, ignore_errors=True)
    ring = Settings(
        state_dir=state,
        cassandra_nodes=nodes,
        cassandra_port=base.cassandra_port + RING_PORT_OFFSET,
    )
    members = cassandra.ring(ring)
    try:
        started = datetime.now(UTC)
        services.start(members)
        print(f"{nodes}-node ring up in {(datetime.now(UTC) - started).total_seconds():.0f} s")
        yield ring
    finally:
        for node in reversed(members):
            node.stop()
        shutil.rmtree(state, ignore_errors=True)


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
    assets, poster = _rows_only_media(settings, video.id, version)
    return catalog.publish_video(video.id, version, assets, poster, 600.0)


def publish_many_rows_only(
    conn: psycopg.Connection[TupleRow],
    settings: Settings,
    creator_ids: Sequence[UUID],
    titles: Sequence[str],
    *,
    tags: list[str],
) -> list[UUID]:
    """Public videos as `publish_rows_only` leaves them, written with COPY in `conn`'s
    transaction: thousands of them take seconds instead of minutes.

    The i-th title is the i-th video, uploaded by the creators in turn and published a second
    after the one before it; returns their ids in that order. `tags` are stored as given, so
    they must be as the catalog keeps them (trimmed, lower-case, unique).
    """
    video_ids = [uuid4() for _ in titles]
    first = datetime.now(UTC) - timedelta(seconds=len(titles))
    media = []
    with conn.cursor() as cur:
        with cur.copy(
            "COPY videos (id, uploaded_by_user_id, title, tags, visibility, encoding_status,"
            " published_version, created_at, published_at, thumbnail_url, duration_s)"
            " FROM STDIN"
        ) as copy:
            for i, (video_id, title) in enumerate(zip(video_ids, titles, strict=True)):
                version = new_version()
                assets, poster = _rows_only_media(settings, video_id, version)
                published = first + timedelta(seconds=i)
                copy.write_row(
                    (
                        video_id,
                        creator_ids[i % len(creator_ids)],
                        title,
                        tags,
                        Visibility.PUBLIC.value,
                        EncodingStatus.READY.value,
                        version,
                        published,
                        published,
                        poster,
                        600.0,
                    )
                )
                media.append((video_id, version, assets))
        with cur.copy(
            "COPY stream_assets (video_id, version, resolution, width, height, bitrate, codec,"
            " format, cdn_url) FROM STDIN"
        ) as copy:
            for video_id, version, assets in media:
                for a in assets:
                    copy.write_row(
                        (
                            video_id,
                            version,
                            a.resolution,
                            a.width,
                            a.height,
                            a.bitrate,
                            a.codec,
                            a.format.value,
                            a.cdn_url,
                        )
                    )
    return video_ids


def _rows_only_media(
    settings: Settings, video_id: UUID, version: str
) -> tuple[list[NewStreamAsset], str]:
    """The stream assets (two rungs in HLS and DASH) and the poster URL of a version."""
    cdn = settings.cdn_base_url.rstrip("/")
    assets = [
        NewStreamAsset(
            width=width,
            height=height,
            bitrate=height * 2_000,
            codec="avc1.64001f",
            format=stream_format,
            cdn_url=f"{cdn}/{layout.stream_key(video_id, version, name)}",
        )
        for width, height in ((640, 360), (1280, 720))
        for stream_format, name in (
            (StreamFormat.HLS, layout.HLS_MASTER_NAME),
            (StreamFormat.DASH, layout.MPD_NAME),
        )
    ]
    poster = f"{cdn}/{layout.thumbs_key(video_id, version, layout.POSTER_NAME)}"
    return assets, poster
