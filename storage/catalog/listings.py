"""What viewers browse: full-text search, the feed's candidates, trending, the model's catalogue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import NamedTuple
from uuid import UUID

from psycopg import sql

from storage.catalog.base import CatalogBase, _columns
from storage.catalog.models import Video, Visibility
from storage.catalog.videos import _tags, _videos_by_id
from storage.trending import TrendingVideo, top_trending

# The text search configuration of videos.search_vector; queries must use the same one.
SEARCH_CONFIG = "english"


class FeedCandidate(NamedTuple):
    """A video a feed may rank: what ranking needs of it, read for a thousand at a time."""

    video_id: UUID
    published_at: datetime
    comments: int


class VideoListings(CatalogBase):
    """Reads over many videos: search, the feed, trending and the published catalogue."""

    def search_videos(
        self,
        query: str,
        *,
        tags: Iterable[str] | None = None,
        visibilities: Iterable[Visibility] = (Visibility.PUBLIC,),
        published_only: bool = True,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Video]:
        """Full-text search (web-search syntax, English stemming), best match first.

        Title matches weigh more than tag matches, which weigh more than description matches.
        A blank query lists the filtered videos, most recently published first; `tags` keeps
        videos that carry all of them.
        """
        conditions: list[sql.Composable] = [sql.SQL("v.visibility = ANY(%(visibilities)s)")]
        if published_only:
            conditions.append(sql.SQL("v.published_version IS NOT NULL"))
        visible: dict[str, object] = {"visibilities": [Visibility(v) for v in visibilities]}
        return self._search(query, conditions, visible, tags=tags, limit=limit, offset=offset)

    def search_listed_videos(
        self,
        query: str,
        *,
        viewer_id: UUID | None = None,
        tags: Iterable[str] | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Video]:
        """`search_videos` over what a listing may show `viewer_id` (None: anonymous).

        Published public and premium videos, and the viewer's own published private ones; never
        unlisted videos, other people's private ones, or taken-down ones, not even for admins.
        Ranked exactly as `search_videos` ranks.
        """
        conditions: list[sql.Composable] = [
            sql.SQL(
                "(v.visibility IN ('public', 'premium')"
                " OR (v.visibility = 'private' AND v.uploaded_by_user_id = %(viewer_id)s))"
            ),
            sql.SQL("v.published_version IS NOT NULL"),
            sql.SQL("v.taken_down_at IS NULL"),
        ]
        viewer: dict[str, object] = {"viewer_id": viewer_id}
        return self._search(query, conditions, viewer, tags=tags, limit=limit, offset=offset)

    def _search(
        self,
        query: str,
        conditions: list[sql.Composable],
        params: dict[str, object],
        *,
        tags: Iterable[str] | None,
        limit: int,
        offset: int,
    ) -> list[Video]:
        """Videos meeting `conditions`, carrying all `tags` and matching `query`, best first."""
        conditions = list(conditions)
        params = params | {
            "config": SEARCH_CONFIG,
            "query": query,
            "tags": _tags(tags or ()),
            "limit": limit,
            "offset": offset,
        }
        if params["tags"]:
            conditions.append(sql.SQL("v.tags @> %(tags)s"))
        if query.strip():
            source = sql.SQL(
                "videos AS v CROSS JOIN websearch_to_tsquery(%(config)s::regconfig, %(query)s) AS q"
            )
            conditions.append(sql.SQL("v.search_vector @@ q"))
            order = sql.SQL("ts_rank(v.search_vector, q) DESC, v.published_at DESC NULLS LAST")
        else:
            source = sql.SQL("videos AS v")
            order = sql.SQL("v.published_at DESC NULLS LAST, v.created_at DESC")
        statement = sql.SQL(
            "SELECT {columns} FROM {source} WHERE {conditions}"
            " ORDER BY {order}, v.id LIMIT %(limit)s OFFSET %(offset)s"
        ).format(
            columns=_columns(Video, "v"),
            source=source,
            conditions=sql.SQL(" AND ").join(conditions),
            order=order,
        )
        return self._rows(Video, statement, params)

    def feed_candidates(self, as_of: datetime, *, limit: int) -> list[FeedCandidate]:
        """Listable videos published by `as_of`, newest first, each with its comments by `as_of`.

        Listable: public or premium, published, not taken down. Counting only what existed at
        `as_of` gives the same counts on every call with the same `as_of`, which is what keeps
        a feed's order fixed while a client pages through it. Only what ranking needs is read:
        a page's videos are read by id.
        """
        query = (
            "SELECT v.id, v.published_at,"
            " (SELECT count(*) FROM comments AS c"
            "  WHERE c.video_id = v.id AND c.created_at <= %(as_of)s)"
            " FROM videos AS v"
            " WHERE v.visibility IN ('public', 'premium') AND v.published_version IS NOT NULL"
            " AND v.taken_down_at IS NULL AND v.published_at <= %(as_of)s"
            " ORDER BY v.published_at DESC, v.id DESC LIMIT %(limit)s"
        )
        with self._transaction() as conn:
            rows = conn.execute(query, {"as_of": as_of, "limit": limit}).fetchall()
        return [FeedCandidate(*row) for row in rows]

    def trending_ranking(self, limit: int = 20, *, day: date | None = None) -> list[TrendingVideo]:
        """The latest day's trending ranking (the latest up to `day`) of videos anyone may
        watch, best first, without the videos."""
        with self._transaction() as conn:
            return top_trending(conn, limit, day=day)

    def trending(
        self, limit: int = 20, *, day: date | None = None
    ) -> list[tuple[TrendingVideo, Video]]:
        """The latest day's trending ranking (the latest up to `day`) of videos anyone may
        watch, best first."""
        with self._transaction() as conn:
            ranked = top_trending(conn, limit, day=day)
            videos = _videos_by_id(conn, (entry.video_id for entry in ranked))
        return [(entry, videos[entry.video_id]) for entry in ranked if entry.video_id in videos]

    def list_published_videos(self) -> list[Video]:
        """Every video with a published version, whatever its visibility, oldest first.

        The catalogue a recommendation model learns; what may be shown is decided when serving.
        """
        query = sql.SQL(
            "SELECT {} FROM videos WHERE published_version IS NOT NULL ORDER BY created_at, id"
        ).format(_columns(Video))
        return self._rows(Video, query, ())
