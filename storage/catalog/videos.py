"""Videos: their editorial fields, pipeline state, moderation and removal."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from psycopg import errors, sql

from reelflow.mail import MailKind
from storage.catalog.base import (
    CatalogBase,
    Connection,
    _all,
    _assignments,
    _columns,
    _fetch_one,
    _one,
    _row_value,
)
from storage.catalog.errors import InvalidValue, NotFound
from storage.catalog.models import EncodingStatus, ProcessingVideo, Upload, Video, Visibility
from storage.catalog.outbox import _enqueue_mail


class Videos(CatalogBase):
    """The `videos` table, row by row; listings and search are in `listings`."""

    def create_video(
        self,
        uploaded_by_user_id: UUID,
        title: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        visibility: Visibility = Visibility.PRIVATE,
    ) -> Video:
        """Add a video in state `pending`; tags are stored trimmed, lower-case and unique."""
        query = sql.SQL(
            "INSERT INTO videos (uploaded_by_user_id, title, description, tags, visibility)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING {}"
        ).format(_columns(Video))
        params = (uploaded_by_user_id, title.strip(), description, _tags(tags), visibility)
        try:
            with self._transaction() as conn:
                return _one(conn, Video, query, params)
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"user {uploaded_by_user_id}") from exc

    def get_video(self, video_id: UUID) -> Video:
        """The video with this id, whatever its state or visibility."""
        query = sql.SQL("SELECT {} FROM videos WHERE id = %s").format(_columns(Video))
        return self._row(Video, query, (video_id,), f"video {video_id}")

    def get_videos(self, video_ids: Iterable[UUID]) -> dict[UUID, Video]:
        """The videos with these ids, by id, whatever their state; unknown ids are left out."""
        with self._transaction() as conn:
            return _videos_by_id(conn, video_ids)

    def update_video(
        self,
        video_id: UUID,
        *,
        title: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        visibility: Visibility | None = None,
        thumbnail_url: str | None = None,
    ) -> Video:
        """Change the given editorial fields (None leaves a field as it is)."""
        changes: dict[str, object] = {}
        if title is not None:
            changes["title"] = title.strip()
        if description is not None:
            changes["description"] = description
        if tags is not None:
            changes["tags"] = _tags(tags)
        if visibility is not None:
            changes["visibility"] = visibility
        if thumbnail_url is not None:
            changes["thumbnail_url"] = thumbnail_url
        if not changes:
            return self.get_video(video_id)
        query = sql.SQL("UPDATE videos SET {} WHERE id = %s RETURNING {}").format(
            _assignments(changes), _columns(Video)
        )
        video = self._row(Video, query, (*changes.values(), video_id), f"video {video_id}")
        self._changed("video", video_id)
        return video

    def list_videos_by_user(
        self, user_id: UUID, *, limit: int = 50, offset: int = 0
    ) -> list[Video]:
        """A creator's videos in every state and visibility, newest first."""
        query = sql.SQL(
            "SELECT {} FROM videos WHERE uploaded_by_user_id = %s"
            " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
        ).format(_columns(Video))
        return self._rows(Video, query, (user_id, limit, offset))

    def set_encoding_status(
        self, video_id: UUID, status: EncodingStatus, failure_reason: str | None = None
    ) -> Video:
        """Record a pipeline state; FAILED needs a reason, and READY comes from `publish_video`.

        READY is accepted here only for a video that already has a published version (a
        re-processing run that was called off).
        """
        if (status == EncodingStatus.FAILED) != bool(failure_reason and failure_reason.strip()):
            raise InvalidValue("a failure reason is given exactly when the status is 'failed'")
        query = sql.SQL(
            "UPDATE videos SET encoding_status = %s, failure_reason = %s WHERE id = %s RETURNING {}"
        ).format(_columns(Video))
        with self._transaction() as conn:
            before = _row_value(conn, "videos", video_id, column="encoding_status", for_update=True)
            video = _one(conn, Video, query, (status, failure_reason, video_id))
            if status == EncodingStatus.FAILED and before != EncodingStatus.FAILED:
                _tell_owner(conn, video)
        self._changed("video", video_id)
        return video

    def fail_processing(
        self, video_id: UUID, reason: str, *, upload_id: UUID | None = None
    ) -> Video | None:
        """Record that a video's processing ended for good without publishing.

        It applies to a video `processing`, and, given `upload_id`, to one still awaiting the
        ingest of that upload (its latest, completed). The video becomes `failed` with `reason`,
        or `ready` again when it has a published version, which it keeps playing. Returns the
        video changed; None, changing nothing, when it has moved on (published, failed already,
        a newer upload) or is gone.
        """
        reason = _reason(reason, "a failure")
        query = sql.SQL(
            "UPDATE videos AS v SET"
            " encoding_status = CASE WHEN v.published_version IS NULL"
            " THEN 'failed' ELSE 'ready' END,"
            " failure_reason = CASE WHEN v.published_version IS NULL THEN %s END"
            " WHERE v.id = %s AND (v.encoding_status = 'processing'"
            " OR (v.encoding_status = 'uploading' AND (%s::uuid, 'completed') = ("
            "  SELECT u.id, u.status FROM uploads AS u WHERE u.video_id = v.id"
            "  ORDER BY u.created_at DESC, u.id DESC LIMIT 1)))"
            " RETURNING {}"
        ).format(_columns(Video, "v"))
        with self._transaction() as conn:
            video = _fetch_one(conn, Video, query, (reason, video_id, upload_id))
            if video is not None and video.encoding_status == EncodingStatus.FAILED:
                _tell_owner(conn, video)
        if video is not None:
            self._changed("video", video_id)
        return video

    def list_stalled_videos(self, idle_for: timedelta, *, limit: int = 100) -> list[Video]:
        """Videos `processing` whose row has not changed for `idle_for`, longest idle first."""
        query = sql.SQL(
            "SELECT {} FROM videos WHERE encoding_status = 'processing'"
            " AND updated_at <= now() - %s ORDER BY updated_at, id LIMIT %s"
        ).format(_columns(Video))
        return self._rows(Video, query, (idle_for, limit))

    def count_videos_by_status(self) -> dict[EncodingStatus, int]:
        """How many videos are in each encoding state, every state present."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT encoding_status, count(*) FROM videos GROUP BY encoding_status"
            ).fetchall()
        counts = dict.fromkeys(EncodingStatus, 0)
        counts.update({EncodingStatus(status): int(count) for status, count in rows})
        return counts

    def list_processing_videos(
        self, *, since_before: datetime | None = None, limit: int = 100
    ) -> list[ProcessingVideo]:
        """Videos `processing`, longest waiting first; with `since_before`, only those waiting
        since then or earlier."""
        query = sql.SQL(
            "SELECT * FROM (SELECT v.id, v.title, coalesce(("
            " SELECT max(u.completed_at) FROM uploads AS u"
            " WHERE u.video_id = v.id AND u.status = 'completed'), v.updated_at) AS since"
            " FROM videos AS v WHERE v.encoding_status = 'processing') AS waiting"
            " WHERE %s::timestamptz IS NULL OR since <= %s ORDER BY since, id LIMIT %s"
        )
        return self._rows(ProcessingVideo, query, (since_before, since_before, limit))

    def upload_to_ready_seconds(self, published_after: datetime) -> list[float]:
        """For each video first published after `published_after`, the seconds from the
        completion of the upload it published to its publication.

        The catalog keeps when a video was first published, not when each later version was:
        re-processing a published video is not counted.
        """
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT extract(epoch FROM v.published_at - ("
                " SELECT max(u.completed_at) FROM uploads AS u WHERE u.video_id = v.id"
                " AND u.status = 'completed' AND u.completed_at <= v.published_at))"
                " FROM videos AS v WHERE v.published_at > %s",
                (published_after,),
            ).fetchall()
        return sorted(float(seconds) for (seconds,) in rows if seconds is not None)

    def take_down_video(self, video_id: UUID, reason: str) -> Video:
        """Hide a video from everyone but admins and stop its playback and licences.

        Visibility is left as it is, so `restore_video` returns the video exactly as it was. A
        second takedown replaces the reason and keeps the first takedown time.
        """
        reason = _reason(reason, "a takedown")
        query = sql.SQL(
            "UPDATE videos SET taken_down_at = coalesce(taken_down_at, now()),"
            " takedown_reason = %s WHERE id = %s RETURNING {}"
        ).format(_columns(Video))
        video = self._row(Video, query, (reason, video_id), f"video {video_id}")
        self._changed("video", video_id)
        return video

    def restore_video(self, video_id: UUID) -> Video:
        """Undo a takedown; restoring a video that is not taken down changes nothing."""
        query = sql.SQL(
            "UPDATE videos SET taken_down_at = NULL, takedown_reason = NULL"
            " WHERE id = %s RETURNING {}"
        ).format(_columns(Video))
        video = self._row(Video, query, (video_id,), f"video {video_id}")
        self._changed("video", video_id)
        return video

    def delete_video(self, video_id: UUID) -> tuple[Video, list[Upload]]:
        """Remove a video with its stream assets, DRM keys, comments and uploads, for good.

        Returns the removed row and its uploads, so that the caller can remove the objects
        (published versions, sources, unfinished multipart uploads) that the rows named.
        """
        uploads_query = sql.SQL(
            "SELECT {} FROM uploads WHERE video_id = %s ORDER BY created_at, id"
        ).format(_columns(Upload))
        delete = sql.SQL("DELETE FROM videos WHERE id = %s RETURNING {}").format(_columns(Video))
        with self._transaction() as conn:
            # The row lock keeps a publishing run or a new upload from slipping in between.
            _row_value(conn, "videos", video_id, for_update=True)
            uploads = _all(conn, Upload, uploads_query, (video_id,))
            video = _one(conn, Video, delete, (video_id,))
        self._changed("video", video_id)
        return video, uploads


def _tell_owner(conn: Connection, video: Video) -> None:
    """Queue the mail that tells the video's creator it is ready, or failed and why."""
    payload = {"video_id": str(video.id), "title": video.title}
    if video.encoding_status == EncodingStatus.FAILED:
        _enqueue_mail(
            conn,
            MailKind.VIDEO_FAILED,
            {**payload, "reason": video.failure_reason},
            user_id=video.uploaded_by_user_id,
        )
    else:
        _enqueue_mail(conn, MailKind.VIDEO_READY, payload, user_id=video.uploaded_by_user_id)


def _videos_by_id(conn: Connection, video_ids: Iterable[UUID]) -> dict[UUID, Video]:
    query = sql.SQL("SELECT {} FROM videos WHERE id = ANY(%s)").format(_columns(Video))
    videos = _all(conn, Video, query, (list(set(video_ids)),))
    return {video.id: video for video in videos}


def _reason(reason: str, of: str) -> str:
    """The reason trimmed; InvalidValue when nothing is left."""
    reason = reason.strip()
    if not reason:
        raise InvalidValue(f"{of} needs a reason")
    return reason


def _tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, lower-case, first occurrence kept, blanks dropped."""
    return list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
