"""Caption tracks of a video, one per language, normalised WebVTT kept in the object store."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg import errors, sql

from storage.catalog.base import CatalogBase, _columns, _one
from storage.catalog.errors import NotFound
from storage.catalog.models import _Model


class Caption(_Model):
    video_id: UUID
    language: str
    label: str
    object_key: str
    cues: int
    revision: int
    created_at: datetime
    updated_at: datetime


class Captions(CatalogBase):
    """The `video_captions` table: a video's caption tracks by language."""

    def list_captions(self, video_id: UUID) -> list[Caption]:
        """The video's caption tracks, by language."""
        query = sql.SQL(
            "SELECT {} FROM video_captions WHERE video_id = %s ORDER BY language"
        ).format(_columns(Caption))
        return self._rows(Caption, query, (video_id,))

    def put_caption(
        self, video_id: UUID, language: str, label: str, object_key: str, cues: int
    ) -> Caption:
        """Add the track of `language`, or replace it (its revision moves on by one)."""
        query = sql.SQL(
            "INSERT INTO video_captions (video_id, language, label, object_key, cues)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (video_id, language) DO UPDATE SET"
            " label = EXCLUDED.label, object_key = EXCLUDED.object_key, cues = EXCLUDED.cues,"
            " revision = video_captions.revision + 1, updated_at = now() RETURNING {}"
        ).format(_columns(Caption))
        try:
            with self._transaction() as conn:
                row = _one(conn, Caption, query, (video_id, language, label, object_key, cues))
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"video {video_id}") from exc
        # The video's metadata lists its tracks.
        self._changed("video", video_id)
        return row

    def delete_caption(self, video_id: UUID, language: str) -> Caption:
        """Remove the track of `language`; the row it was."""
        query = sql.SQL(
            "DELETE FROM video_captions WHERE video_id = %s AND language = %s RETURNING {}"
        ).format(_columns(Caption))
        with self._transaction() as conn:
            row = conn.execute(query, (video_id, language)).fetchone()
        if row is None:
            raise NotFound(f"caption {language} of video {video_id}")
        self._changed("video", video_id)
        return Caption(**dict(zip(Caption.model_fields, row, strict=True)))
