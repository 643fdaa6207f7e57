"""Viewers' ordered lists of videos, and the watch-later list each viewer gets on first use.

Every change to a list's items locks the list's row first, so concurrent additions, removals
and moves of one list run one after another and positions stay dense from 0 and unique.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID, uuid4

from psycopg import errors, sql

from storage.catalog.base import CatalogBase, Connection, _all, _columns, _one
from storage.catalog.errors import Conflict, InvalidState, InvalidValue, NotFound
from storage.catalog.models import Video, _Model

# A list is read whole (its readers' access is checked per video): bounded to stay cheap.
MAX_PLAYLIST_ITEMS = 1000
MAX_PLAYLISTS = 200
WATCH_LATER_TITLE = "Watch later"


class AlreadyInPlaylist(Conflict):
    """The video is in the list already: a list holds a video once."""


class PlaylistFull(Conflict):
    """The list, or the owner's set of lists, is at its cap."""


class PlaylistKind(StrEnum):
    USER = "user"
    WATCH_LATER = "watch_later"


class PlaylistVisibility(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


class Playlist(_Model):
    id: UUID
    owner_id: UUID
    kind: PlaylistKind
    title: str
    description: str
    visibility: PlaylistVisibility
    created_at: datetime
    updated_at: datetime
    item_count: int


class PlaylistItem(_Model):
    playlist_id: UUID
    video_id: UUID
    position: int
    added_at: datetime


class PlaylistEntry(_Model):
    """An item with its video, for a reader's access check and the list's cards."""

    item: PlaylistItem
    video: Video


_PLAYLIST = sql.SQL(
    "SELECT p.id, p.owner_id, p.kind, p.title, p.description, p.visibility, p.created_at,"
    " p.updated_at, (SELECT count(*) FROM playlist_items i WHERE i.playlist_id = p.id)::int"
    " AS item_count FROM playlists p"
)


class Playlists(CatalogBase):
    """The `playlists` and `playlist_items` tables."""

    def create_playlist(
        self,
        owner_id: UUID,
        title: str,
        *,
        description: str = "",
        visibility: PlaylistVisibility = PlaylistVisibility.PRIVATE,
    ) -> Playlist:
        """A new, empty list of the owner's."""
        if not title.strip():
            raise InvalidValue("a playlist needs a title")
        with self._transaction() as conn:
            # Serialises one owner's creations, so the cap holds under concurrency; NO KEY lets
            # rows that reference the account (comments, ratings) be written meanwhile.
            conn.execute("SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (owner_id,))
            row = conn.execute(
                "SELECT count(*) FROM playlists WHERE owner_id = %s", (owner_id,)
            ).fetchone()
            if row is not None and row[0] >= MAX_PLAYLISTS:
                raise PlaylistFull(f"an account has at most {MAX_PLAYLISTS} playlists")
            playlist_id = uuid4()
            try:
                conn.execute(
                    "INSERT INTO playlists (id, owner_id, title, description, visibility)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (playlist_id, owner_id, title, description, visibility.value),
                )
            except errors.ForeignKeyViolation as exc:
                raise NotFound(f"user {owner_id}") from exc
            return _playlist(conn, playlist_id)

    def watch_later(self, owner_id: UUID) -> Playlist:
        """The owner's watch-later list, made now if it is their first use."""
        with self._transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO playlists (id, owner_id, kind, title) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (owner_id) WHERE kind = 'watch_later' DO NOTHING",
                    (uuid4(), owner_id, PlaylistKind.WATCH_LATER.value, WATCH_LATER_TITLE),
                )
            except errors.ForeignKeyViolation as exc:
                raise NotFound(f"user {owner_id}") from exc
            row = conn.execute(
                "SELECT id FROM playlists WHERE owner_id = %s AND kind = 'watch_later'",
                (owner_id,),
            ).fetchone()
            assert row is not None
            return _playlist(conn, row[0])

    def get_playlist(self, playlist_id: UUID) -> Playlist:
        """The list with this id."""
        with self._transaction() as conn:
            return _playlist(conn, playlist_id)

    def list_playlists(self, owner_id: UUID, *, limit: int = 50, offset: int = 0) -> list[Playlist]:
        """The owner's lists: watch later first, then the oldest first."""
        query = _PLAYLIST + sql.SQL(
            " WHERE p.owner_id = %s ORDER BY p.kind = 'watch_later' DESC, p.created_at, p.id"
            " LIMIT %s OFFSET %s"
        )
        return self._rows(Playlist, query, (owner_id, limit, offset))

    def update_playlist(
        self,
        playlist_id: UUID,
        *,
        title: str | None = None,
        description: str | None = None,
        visibility: PlaylistVisibility | None = None,
    ) -> Playlist:
        """Rename, describe or publish a list; watch later stays as it is."""
        if title is not None and not title.strip():
            raise InvalidValue("a playlist needs a title")
        with self._transaction() as conn:
            if _lock(conn, playlist_id) == PlaylistKind.WATCH_LATER:
                raise InvalidState("the watch-later list cannot be renamed or shared")
            conn.execute(
                "UPDATE playlists SET title = coalesce(%s, title),"
                " description = coalesce(%s, description),"
                " visibility = coalesce(%s, visibility), updated_at = now() WHERE id = %s",
                (title, description, visibility.value if visibility else None, playlist_id),
            )
            return _playlist(conn, playlist_id)

    def delete_playlist(self, playlist_id: UUID) -> None:
        """Delete a list and its items; watch later is kept (it is emptied instead)."""
        with self._transaction() as conn:
            if _lock(conn, playlist_id) == PlaylistKind.WATCH_LATER:
                raise InvalidState("the watch-later list cannot be deleted")
            conn.execute("DELETE FROM playlists WHERE id = %s", (playlist_id,))

    def add_playlist_item(
        self,
        playlist_id: UUID,
        video_id: UUID,
        *,
        position: int | None = None,
        at: datetime | None = None,
    ) -> PlaylistItem:
        """Put a video in a list at `position` (clamped; None: at the end), the items from
        there on moving down one."""
        with self._transaction() as conn:
            _lock(conn, playlist_id)
            count = _count(conn, playlist_id)
            if count >= MAX_PLAYLIST_ITEMS:
                raise PlaylistFull(f"a playlist holds at most {MAX_PLAYLIST_ITEMS} videos")
            exists = conn.execute(
                "SELECT 1 FROM playlist_items WHERE playlist_id = %s AND video_id = %s",
                (playlist_id, video_id),
            ).fetchone()
            if exists is not None:
                raise AlreadyInPlaylist(f"video {video_id} is already in playlist {playlist_id}")
            target = count if position is None else max(0, min(position, count))
            conn.execute(
                "UPDATE playlist_items SET position = position + 1"
                " WHERE playlist_id = %s AND position >= %s",
                (playlist_id, target),
            )
            query = sql.SQL(
                "INSERT INTO playlist_items (playlist_id, video_id, position, added_at)"
                " VALUES (%s, %s, %s, coalesce(%s, now())) RETURNING {}"
            ).format(_columns(PlaylistItem))
            try:
                item = _one(conn, PlaylistItem, query, (playlist_id, video_id, target, at))
            except errors.ForeignKeyViolation as exc:
                raise NotFound(f"video {video_id}") from exc
            _touch(conn, playlist_id)
            return item

    def remove_playlist_item(self, playlist_id: UUID, video_id: UUID) -> None:
        """Take a video out of a list; the items after it move up one."""
        with self._transaction() as conn:
            _lock(conn, playlist_id)
            row = conn.execute(
                "DELETE FROM playlist_items WHERE playlist_id = %s AND video_id = %s"
                " RETURNING position",
                (playlist_id, video_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"video {video_id} in playlist {playlist_id}")
            conn.execute(
                "UPDATE playlist_items SET position = position - 1"
                " WHERE playlist_id = %s AND position > %s",
                (playlist_id, row[0]),
            )
            _touch(conn, playlist_id)

    def move_playlist_item(self, playlist_id: UUID, video_id: UUID, position: int) -> PlaylistItem:
        """Move a video to `position` (clamped to the list), shifting the items between."""
        with self._transaction() as conn:
            _lock(conn, playlist_id)
            row = conn.execute(
                "SELECT position FROM playlist_items WHERE playlist_id = %s AND video_id = %s",
                (playlist_id, video_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"video {video_id} in playlist {playlist_id}")
            current = row[0]
            target = max(0, min(position, _count(conn, playlist_id) - 1))
            if target < current:
                conn.execute(
                    "UPDATE playlist_items SET position = position + 1"
                    " WHERE playlist_id = %s AND position >= %s AND position < %s",
                    (playlist_id, target, current),
                )
            else:
                conn.execute(
                    "UPDATE playlist_items SET position = position - 1"
                    " WHERE playlist_id = %s AND position > %s AND position <= %s",
                    (playlist_id, current, target),
                )
            query = sql.SQL(
                "UPDATE playlist_items SET position = %s WHERE playlist_id = %s AND video_id = %s"
                " RETURNING {}"
            ).format(_columns(PlaylistItem))
            item = _one(conn, PlaylistItem, query, (target, playlist_id, video_id))
            _touch(conn, playlist_id)
            return item

    def list_playlist_entries(self, playlist_id: UUID) -> list[PlaylistEntry]:
        """Every item of a list in order, each with its video."""
        query = sql.SQL(
            "SELECT {} FROM playlist_items WHERE playlist_id = %s ORDER BY position"
        ).format(_columns(PlaylistItem))
        videos = sql.SQL(
            "SELECT {} FROM videos WHERE id IN"
            " (SELECT video_id FROM playlist_items WHERE playlist_id = %s)"
        ).format(_columns(Video))
        with self._transaction() as conn:
            items = _all(conn, PlaylistItem, query, (playlist_id,))
            by_id = {v.id: v for v in _all(conn, Video, videos, (playlist_id,))}
        return [PlaylistEntry(item=item, video=by_id[item.video_id]) for item in items]


def _playlist(conn: Connection, playlist_id: UUID) -> Playlist:
    with conn.cursor() as cur:
        cur.execute(_PLAYLIST + sql.SQL(" WHERE p.id = %s"), (playlist_id,))
        row = cur.fetchone()
        names = [d.name for d in cur.description or ()]
    if row is None:
        raise NotFound(f"playlist {playlist_id}")
    return Playlist.model_validate(dict(zip(names, row, strict=True)))


def _lock(conn: Connection, playlist_id: UUID) -> PlaylistKind:
    """Lock the list's row for the transaction; its kind."""
    row = conn.execute(
        "SELECT kind FROM playlists WHERE id = %s FOR UPDATE", (playlist_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"playlist {playlist_id}")
    return PlaylistKind(row[0])


def _count(conn: Connection, playlist_id: UUID) -> int:
    row = conn.execute(
        "SELECT count(*) FROM playlist_items WHERE playlist_id = %s", (playlist_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def _touch(conn: Connection, playlist_id: UUID) -> None:
    conn.execute("UPDATE playlists SET updated_at = now() WHERE id = %s", (playlist_id,))
