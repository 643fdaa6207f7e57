"""Publishing: a version's stream assets made the ones viewers get, atomically."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from psycopg import errors, sql

from storage.catalog.base import CatalogBase, _all, _columns, _one, _row_value
from storage.catalog.errors import InvalidValue
from storage.catalog.models import NewStreamAsset, StreamAsset, Video
from storage.catalog.videos import _tell_owner


class Publishing(CatalogBase):
    """The `stream_assets` table and a video's published version."""

    def publish_video(
        self,
        video_id: UUID,
        version: str,
        stream_assets: Sequence[NewStreamAsset],
        thumbnail_url: str,
        duration_s: float,
    ) -> Video:
        """Make `version` the one viewers get, with exactly these stream assets, atomically.

        Publishing the same version again replaces its assets instead of adding to them; rows of
        earlier versions stay for players that are still on them. `published_at` keeps the
        first publication time.
        """
        if not stream_assets:
            raise InvalidValue("a published version needs at least one stream asset")
        renditions = [(a.format, a.resolution) for a in stream_assets]
        if len(set(renditions)) != len(renditions):
            raise InvalidValue(f"stream assets repeat a format and resolution: {renditions}")
        insert = (
            "INSERT INTO stream_assets (video_id, version, resolution, width, height, bitrate,"
            " codec, format, cdn_url, drm_key_id) VALUES (%(video_id)s, %(version)s,"
            " %(resolution)s, %(width)s, %(height)s, %(bitrate)s, %(codec)s, %(format)s,"
            " %(cdn_url)s, %(drm_key_id)s)"
        )
        publish = sql.SQL(
            "UPDATE videos SET published_version = %s, encoding_status = 'ready',"
            " failure_reason = NULL, published_at = coalesce(published_at, now()),"
            " thumbnail_url = %s, duration_s = %s WHERE id = %s RETURNING {}"
        ).format(_columns(Video))
        rows = [
            {**a.model_dump(), "resolution": a.resolution, "video_id": video_id, "version": version}
            for a in stream_assets
        ]
        with self._transaction() as conn:
            # The row lock serialises two publishing runs of the same video.
            first = (
                _row_value(conn, "videos", video_id, column="published_version", for_update=True)
                is None
            )
            conn.execute(
                "DELETE FROM stream_assets WHERE video_id = %s AND version = %s",
                (video_id, version),
            )
            try:
                with conn.cursor() as cur:
                    cur.executemany(insert, rows)
            except errors.ForeignKeyViolation as exc:
                raise InvalidValue(
                    f"a stream asset names a DRM key that is not a key of video {video_id}"
                ) from exc
            video = _one(conn, Video, publish, (version, thumbnail_url, duration_s, video_id))
            if first:
                _tell_owner(conn, video)
        self._changed("video", video_id)
        return video

    def list_stream_assets(self, video_id: UUID) -> list[StreamAsset]:
        """The stream assets of the published version (empty while unpublished)."""
        query = sql.SQL(
            "SELECT {} FROM videos AS v JOIN stream_assets AS a"
            " ON a.video_id = v.id AND a.version = v.published_version"
            " WHERE v.id = %s ORDER BY a.format, a.height DESC, a.bitrate DESC"
        ).format(_columns(StreamAsset, "a"))
        with self._transaction() as conn:
            assets = _all(conn, StreamAsset, query, (video_id,))
            if not assets:
                _row_value(conn, "videos", video_id)
            return assets

    def list_videos_awaiting_protection(self, *, limit: int = 100) -> list[Video]:
        """Premium videos whose published version still has streams in the clear: published
        while public, then made premium. Each wants a run that publishes it encrypted."""
        query = sql.SQL(
            "SELECT {} FROM videos AS v WHERE v.visibility = 'premium'"
            " AND v.encoding_status = 'ready' AND EXISTS ("
            " SELECT 1 FROM stream_assets AS a WHERE a.video_id = v.id"
            " AND a.version = v.published_version AND a.drm_key_id IS NULL)"
            " ORDER BY v.updated_at, v.id LIMIT %s"
        ).format(_columns(Video, "v"))
        return self._rows(Video, query, (limit,))
