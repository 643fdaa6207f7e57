"""Viewers' likes and dislikes of videos, and the event log the daily datasets count from."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from psycopg import errors, sql

from storage.catalog.base import CatalogBase, Connection, _columns
from storage.catalog.errors import InvalidValue, NotFound
from storage.catalog.models import Video, _Model

LIKE = 1
DISLIKE = -1


class Rating(_Model):
    user_id: UUID
    video_id: UUID
    value: int
    rated_at: datetime


class RatingCounts(_Model):
    likes: int
    dislikes: int


class VideoCommunityDay(_Model):
    """One video's ratings and playlist additions on a UTC day (a row of the daily dataset)."""

    video_id: UUID
    likes: int
    dislikes: int
    likes_added: int
    dislikes_added: int
    playlist_adds: int


class CommunityDay(_Model):
    """A day's rows, and the totals the ratings table gives for the end of that day."""

    rows: list[VideoCommunityDay]
    likes: int
    dislikes: int


class Ratings(CatalogBase):
    """The `video_ratings` table and its history in `video_rating_events`."""

    def rate_video(
        self, user_id: UUID, video_id: UUID, value: int, *, at: datetime | None = None
    ) -> Rating:
        """Like (1) or dislike (-1) a video; rating it the same again changes nothing."""
        if value not in (LIKE, DISLIKE):
            raise InvalidValue("a rating is 1 (like) or -1 (dislike)")
        try:
            with self._transaction() as conn:
                previous = _lock_rating(conn, user_id, video_id)
                if previous is not None and previous.value == value:
                    return previous
                row = conn.execute(
                    sql.SQL(
                        "INSERT INTO video_ratings (user_id, video_id, value, rated_at)"
                        " VALUES (%s, %s, %s, coalesce(%s, now()))"
                        " ON CONFLICT (video_id, user_id) DO UPDATE"
                        " SET value = EXCLUDED.value, rated_at = EXCLUDED.rated_at"
                        " RETURNING {}"
                    ).format(_columns(Rating)),
                    (user_id, video_id, value, at),
                ).fetchone()
                _log_event(conn, user_id, video_id, value, previous, at)
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"video {video_id}") from exc
        assert row is not None
        self._changed("video", video_id)
        return Rating(user_id=row[0], video_id=row[1], value=row[2], rated_at=row[3])

    def unrate_video(self, user_id: UUID, video_id: UUID, *, at: datetime | None = None) -> bool:
        """Take a rating back; False when there was none."""
        with self._transaction() as conn:
            previous = _lock_rating(conn, user_id, video_id)
            if previous is None:
                return False
            conn.execute(
                "DELETE FROM video_ratings WHERE video_id = %s AND user_id = %s",
                (video_id, user_id),
            )
            _log_event(conn, user_id, video_id, 0, previous, at)
        self._changed("video", video_id)
        return True

    def get_rating(self, user_id: UUID, video_id: UUID) -> Rating | None:
        """The user's rating of the video, if any."""
        query = sql.SQL("SELECT {} FROM video_ratings WHERE video_id = %s AND user_id = %s").format(
            _columns(Rating)
        )
        return self._first(Rating, query, (video_id, user_id))

    def rating_counts(self, video_id: UUID) -> RatingCounts:
        """How many viewers like and dislike the video now."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE value = 1), count(*) FILTER (WHERE value = -1)"
                " FROM video_ratings WHERE video_id = %s",
                (video_id,),
            ).fetchone()
        assert row is not None
        return RatingCounts(likes=row[0], dislikes=row[1])

    def get_video_rated(self, video_id: UUID) -> tuple[Video, RatingCounts]:
        """The video and its counts in one statement (the metadata route's uncached read)."""
        query = sql.SQL(
            "SELECT {}, (SELECT count(*) FILTER (WHERE value = 1) FROM video_ratings r"
            " WHERE r.video_id = v.id), (SELECT count(*) FILTER (WHERE value = -1)"
            " FROM video_ratings r WHERE r.video_id = v.id) FROM videos v WHERE v.id = %s"
        ).format(_columns(Video, "v"))
        with self._transaction() as conn:
            with conn.cursor() as cur:
                cur.execute(query, (video_id,))
                row = cur.fetchone()
                names = [d.name for d in cur.description or ()]
        if row is None:
            raise NotFound(f"video {video_id}")
        video = Video.model_validate(dict(zip(names[:-2], row[:-2], strict=True)))
        return video, RatingCounts(likes=row[-2], dislikes=row[-1])

    def list_ratings_by_user(self, user_id: UUID) -> list[Rating]:
        """Every rating the user holds, newest first."""
        query = sql.SQL(
            "SELECT {} FROM video_ratings WHERE user_id = %s ORDER BY rated_at DESC, video_id"
        ).format(_columns(Rating))
        return self._rows(Rating, query, (user_id,))

    def community_day(self, day: date) -> CommunityDay:
        """Per video, the ratings at the end of the UTC `day` and what was added on it.

        Totals are the sums of the event log up to the day's end, so a past day computes the
        same again; the ratings table, less the events logged since, gives the check totals.
        Playlist additions are the items added that day still in their list.
        """
        start = datetime.combine(day, time(), tzinfo=UTC)
        end = start + timedelta(days=1)
        params = {"start": start, "end": end}
        with self._transaction() as conn:
            # One snapshot: a rating made during the read changes both sides or neither.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            rows = conn.execute(_COMMUNITY_DAY, params).fetchall()
            totals = conn.execute(_TOTALS_AT_END, params).fetchone()
        assert totals is not None
        return CommunityDay(
            rows=[
                VideoCommunityDay(
                    video_id=r[0],
                    likes=r[1],
                    dislikes=r[2],
                    likes_added=r[3],
                    dislikes_added=r[4],
                    playlist_adds=r[5],
                )
                for r in rows
            ],
            likes=totals[0],
            dislikes=totals[1],
        )


_COMMUNITY_DAY = """
WITH rated AS (
    SELECT video_id,
           sum((value = 1)::int - (previous = 1)::int) AS likes,
           sum((value = -1)::int - (previous = -1)::int) AS dislikes,
           count(*) FILTER (WHERE at >= %(start)s AND value = 1) AS likes_added,
           count(*) FILTER (WHERE at >= %(start)s AND value = -1) AS dislikes_added
    FROM video_rating_events WHERE at < %(end)s GROUP BY video_id
), saved AS (
    SELECT video_id, count(*) FILTER (WHERE added_at >= %(start)s) AS playlist_adds
    FROM playlist_items WHERE added_at < %(end)s GROUP BY video_id
)
SELECT video_id, coalesce(likes, 0)::bigint, coalesce(dislikes, 0)::bigint,
       coalesce(likes_added, 0), coalesce(dislikes_added, 0), coalesce(playlist_adds, 0)
FROM rated FULL JOIN saved USING (video_id)
ORDER BY video_id::text
"""

_TOTALS_AT_END = """
SELECT (SELECT count(*) FILTER (WHERE value = 1) FROM video_ratings)
         - coalesce(sum((value = 1)::int - (previous = 1)::int), 0)::bigint,
       (SELECT count(*) FILTER (WHERE value = -1) FROM video_ratings)
         - coalesce(sum((value = -1)::int - (previous = -1)::int), 0)::bigint
FROM video_rating_events WHERE at >= %(end)s
"""


def _lock_rating(conn: Connection, user_id: UUID, video_id: UUID) -> Rating | None:
    """The current rating, with the (user, video) pair locked until the transaction ends, so
    that concurrent changes log each `previous` right."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"rating:{user_id}:{video_id}",)
    )
    row = conn.execute(
        sql.SQL("SELECT {} FROM video_ratings WHERE video_id = %s AND user_id = %s").format(
            _columns(Rating)
        ),
        (video_id, user_id),
    ).fetchone()
    if row is None:
        return None
    return Rating(user_id=row[0], video_id=row[1], value=row[2], rated_at=row[3])


def _log_event(
    conn: Connection,
    user_id: UUID,
    video_id: UUID,
    value: int,
    previous: Rating | None,
    at: datetime | None,
) -> None:
    conn.execute(
        "INSERT INTO video_rating_events (user_id, video_id, value, previous, at)"
        " VALUES (%s, %s, %s, %s, coalesce(%s, now()))",
        (user_id, video_id, value, previous.value if previous else 0, at),
    )


def erase_community(conn: Connection, user_id: UUID) -> list[UUID]:
    """Remove an account's ratings, their history and its playlists, on the caller's
    transaction (an erasure keeps the account's row, so no cascade does it); the videos whose
    counts changed."""
    rated = conn.execute(
        "DELETE FROM video_ratings WHERE user_id = %s RETURNING video_id", (user_id,)
    ).fetchall()
    conn.execute("DELETE FROM video_rating_events WHERE user_id = %s", (user_id,))
    conn.execute("DELETE FROM playlists WHERE owner_id = %s", (user_id,))
    return [row[0] for row in rated]
