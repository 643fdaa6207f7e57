"""Trending rows in PostgreSQL: a day replaced whole, read back playable and in rank order."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import psycopg
import pytest

from storage.catalog import Catalog
from storage.trending import replace_trending, top_trending

DAY = date(2026, 11, 2)


def playable(dsn: str, *video_ids: UUID) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "UPDATE videos SET visibility = 'public', encoding_status = 'ready', "
            "published_version = 'v1', published_at = now() WHERE id = ANY(%s)",
            (list(video_ids),),
        )


@pytest.fixture
def videos(catalog: Catalog, catalog_dsn: str) -> list[UUID]:
    owner = catalog.create_user("owner@example.com", "hash")
    ids = [catalog.create_video(owner.id, f"video {n}").id for n in range(4)]
    playable(catalog_dsn, *ids)
    return ids


def test_replacing_a_day_keeps_only_the_new_rows(catalog_dsn: str, videos: list[UUID]) -> None:
    a, b, c, _ = videos
    with psycopg.connect(catalog_dsn) as conn:
        assert replace_trending(conn, DAY, [(a, 3.0, 1), (b, 2.0, 2), (c, 1.0, 3)]) == 3
        assert replace_trending(conn, DAY, [(str(c), 5.0, 1), (b, 4.0, 2)]) == 2

        ranked = top_trending(conn, 10)

    assert [(t.video_id, t.score, t.rank, t.day) for t in ranked] == [
        (c, 5.0, 1, DAY),
        (b, 4.0, 2, DAY),
    ]


def test_unknown_videos_are_skipped_and_others_keep_their_rank(
    catalog_dsn: str, videos: list[UUID]
) -> None:
    a, b, _, _ = videos
    with psycopg.connect(catalog_dsn) as conn:
        assert replace_trending(conn, DAY, [(a, 3.0, 1), (uuid4(), 2.0, 2), (b, 1.0, 3)]) == 2
        assert [(t.video_id, t.rank) for t in top_trending(conn)] == [(a, 1), (b, 3)]


def test_only_playable_videos_of_the_latest_day_are_read(
    catalog: Catalog, catalog_dsn: str, videos: list[UUID]
) -> None:
    a, b, c, d = videos
    with psycopg.connect(catalog_dsn) as conn:
        replace_trending(conn, date(2026, 11, 1), [(d, 9.0, 1)])
        replace_trending(conn, DAY, [(a, 4.0, 1), (b, 3.0, 2), (c, 2.0, 3), (d, 1.0, 4)])
        conn.execute("UPDATE videos SET visibility = 'private' WHERE id = %s", (a,))
        conn.execute(
            "UPDATE videos SET taken_down_at = now(), takedown_reason = 'test' WHERE id = %s",
            (b,),
        )
        conn.commit()

        assert [t.video_id for t in top_trending(conn, 10)] == [c, d]
        assert [t.video_id for t in top_trending(conn, 1)] == [c]
        assert [t.video_id for t in top_trending(conn, day=date(2026, 11, 1))] == [d]
        with pytest.raises(ValueError):
            top_trending(conn, 0)


def test_deleting_a_video_removes_its_trending_rows(catalog_dsn: str, videos: list[UUID]) -> None:
    a, b, _, _ = videos
    with psycopg.connect(catalog_dsn) as conn:
        replace_trending(conn, DAY, [(a, 2.0, 1), (b, 1.0, 2)])
        conn.execute("DELETE FROM videos WHERE id = %s", (a,))
        assert [t.video_id for t in top_trending(conn)] == [b]
