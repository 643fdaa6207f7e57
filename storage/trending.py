"""Trending videos in PostgreSQL: the daily ranking the `trending_videos` asset writes.

Plain psycopg functions on a connection the caller owns (a pool's or a fresh one), so the API
and the Dagster asset share them without sharing a connection pool. The table is created by
migration 0003.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

# Enough for the feed's fallback and a "trending" page; analysts get every ranked video in the
# Parquet dataset.
STORED_PER_DAY = 100


@dataclass(frozen=True)
class TrendingVideo:
    """A video's place in one day's trending ranking."""

    day: date
    video_id: UUID
    score: float
    rank: int


def replace_trending(
    conn: psycopg.Connection[Any], day: date, ranking: Iterable[tuple[UUID | str, float, int]]
) -> int:
    """Make `ranking` (video id, score, rank) the day's rows, in one transaction.

    Videos no longer in the catalog are skipped, keeping the ranks of the others (a gap marks
    where a deleted video stood, so the ranks agree with the analyst dataset). Returns how many
    rows were written.
    """
    rows = list(ranking)
    video_ids = [str(video_id) for video_id, _, _ in rows]
    scores = [float(score) for _, score, _ in rows]
    ranks = [int(rank) for _, _, rank in rows]
    with conn.transaction():
        conn.execute("DELETE FROM trending_videos WHERE day = %s", (day,))
        # FOR KEY SHARE holds the videos until commit: a video deleted meanwhile is either
        # skipped here or waits, so the foreign key never fails mid-write.
        cursor = conn.execute(
            "INSERT INTO trending_videos (day, video_id, score, rank) "
            "SELECT %s, r.video_id, r.score, r.rank "
            "FROM unnest(%s::uuid[], %s::float8[], %s::int[]) AS r(video_id, score, rank) "
            "JOIN videos AS v ON v.id = r.video_id "
            "FOR KEY SHARE OF v",
            (day, video_ids, scores, ranks),
        )
        return cursor.rowcount


def top_trending(
    conn: psycopg.Connection[Any], limit: int = 20, *, day: date | None = None
) -> list[TrendingVideo]:
    """The best-ranked playable videos of the latest ranked day (or of the latest up to `day`).

    Only videos anyone may watch now are returned: public, ready and not taken down.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    # The caller's connection may use another row factory; this cursor reads plain tuples.
    rows = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "SELECT t.day, t.video_id, t.score, t.rank FROM trending_videos AS t "
            "JOIN videos AS v ON v.id = t.video_id "
            "WHERE t.day = (SELECT max(day) FROM trending_videos "
            "               WHERE %(day)s::date IS NULL OR day <= %(day)s::date) "
            "AND v.visibility = 'public' AND v.encoding_status = 'ready' "
            "AND v.taken_down_at IS NULL "
            "ORDER BY t.rank LIMIT %(limit)s",
            {"day": day, "limit": limit},
        )
        .fetchall()
    )
    return [TrendingVideo(row[0], row[1], row[2], row[3]) for row in rows]
