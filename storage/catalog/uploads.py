"""Uploads of a video's source, and the encoding states they move the video through.

- `create_upload` moves the video to `uploading`; a new upload supersedes (aborts) an open one.
- `complete_upload` only closes the upload: the video stays `uploading`, which with a completed
  latest upload means "awaiting ingest". `list_completed_uploads_pending_ingest` is that set.
- The ingest sensor starts a run and calls `set_encoding_status(video, PROCESSING)`; the
  pipeline ends with `publish_video` (`ready`) or `set_encoding_status(video, FAILED, reason)`.
- Aborting or expiring a video's latest upload returns the video to `pending`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from psycopg import errors, sql

from storage.catalog.base import (
    CatalogBase,
    Connection,
    _all,
    _columns,
    _fetch_one,
    _one,
    _row_value,
)
from storage.catalog.errors import Conflict, InvalidState, NotFound, UploadQuotaExceeded
from storage.catalog.models import EncodingStatus, Upload, UploadStatus

DEFAULT_UPLOAD_TTL = timedelta(hours=24)
OPEN_UPLOAD_STATUSES = (UploadStatus.INITIATED, UploadStatus.RECEIVING)
# Failed videos are left out: retrying a source that failed once needs a person, not a sensor.
AWAITING_INGEST_STATUSES = (EncodingStatus.PENDING, EncodingStatus.UPLOADING)


class Uploads(CatalogBase):
    """The `uploads` table: opening, progressing, closing and sweeping uploads."""

    def create_upload(
        self,
        video_id: UUID,
        *,
        object_key: str,
        size_bytes: int,
        content_type: str,
        ttl: timedelta = DEFAULT_UPLOAD_TTL,
        s3_upload_id: str | None = None,
        quota: UploadQuota | None = None,
    ) -> Upload:
        """Open an upload of a video's source and move the video to `uploading`.

        Allowed while the video is pending, uploading or failed; an open upload of the same
        video is aborted, since the newest upload is the one that gets ingested. With `quota`,
        the video's owner may have at most that many open (unexpired) uploads and bytes
        declared by them, this one included: `UploadQuotaExceeded` otherwise.
        """
        allowed = (EncodingStatus.PENDING, EncodingStatus.UPLOADING, EncodingStatus.FAILED)
        insert = sql.SQL(
            "INSERT INTO uploads (video_id, object_key, size_bytes, content_type, expires_at,"
            " s3_upload_id) VALUES (%s, %s, %s, %s, now() + %s, %s) RETURNING {}"
        ).format(_columns(Upload))
        try:
            with self._transaction() as conn:
                status = _row_value(
                    conn, "videos", video_id, column="encoding_status", for_update=True
                )
                if status not in allowed:
                    raise InvalidState(f"video {video_id} is {status}; it takes no new upload")
                if quota is not None:
                    _check_quota(conn, video_id, size_bytes, quota)
                conn.execute(
                    "UPDATE uploads SET status = 'aborted'"
                    " WHERE video_id = %s AND status = ANY(%s)",
                    (video_id, list(OPEN_UPLOAD_STATUSES)),
                )
                conn.execute(
                    "UPDATE videos SET encoding_status = 'uploading', failure_reason = NULL"
                    " WHERE id = %s",
                    (video_id,),
                )
                params = (video_id, object_key, size_bytes, content_type, ttl, s3_upload_id)
                upload = _one(conn, Upload, insert, params)
        except errors.UniqueViolation as exc:
            raise Conflict(f"object key {object_key!r} already has an upload") from exc
        self._changed("video", video_id)
        return upload

    def get_upload(self, upload_id: UUID) -> Upload:
        """The upload with this id."""
        query = sql.SQL("SELECT {} FROM uploads WHERE id = %s").format(_columns(Upload))
        return self._row(Upload, query, (upload_id,), f"upload {upload_id}")

    def record_received(self, upload_id: UUID, received_bytes: int) -> Upload:
        """Note how many bytes of an open upload have arrived in total.

        The count never moves backwards, so a retried or reordered report is harmless.
        """
        query = sql.SQL(
            "UPDATE uploads SET received_bytes = greatest(received_bytes, %s), status = 'receiving'"
            " WHERE id = %s AND status = ANY(%s) AND expires_at > now() RETURNING {}"
        ).format(_columns(Upload))
        params = (received_bytes, upload_id, list(OPEN_UPLOAD_STATUSES))
        return self._first(Upload, query, params) or self._refuse_upload_change(upload_id)

    def complete_upload(self, upload_id: UUID) -> Upload:
        """Close an open upload whose bytes have all arrived; the video now awaits ingest.

        The video stays `uploading` until the ingest sensor moves it to `processing`.
        """
        query = sql.SQL(
            "UPDATE uploads SET status = 'completed', completed_at = now()"
            " WHERE id = %s AND status = ANY(%s) AND expires_at > now()"
            " AND received_bytes = size_bytes RETURNING {}"
        ).format(_columns(Upload))
        params = (upload_id, list(OPEN_UPLOAD_STATUSES))
        return self._first(Upload, query, params) or self._refuse_upload_change(upload_id)

    def abort_upload(self, upload_id: UUID) -> Upload:
        """Give up an open upload; a video whose latest upload this was returns to `pending`."""
        query = sql.SQL(
            "UPDATE uploads SET status = 'aborted' WHERE id = %s AND status = ANY(%s) RETURNING {}"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            upload = _fetch_one(conn, Upload, query, (upload_id, list(OPEN_UPLOAD_STATUSES)))
            if upload is not None:
                _settle_videos_after_upload_ended(conn, [upload.video_id])
        return upload or self._refuse_upload_change(upload_id)

    def expire_uploads(self) -> list[Upload]:
        """Mark open uploads past their expiry as expired, and return them for clean-up."""
        query = sql.SQL(
            "UPDATE uploads SET status = 'expired'"
            " WHERE status = ANY(%s) AND expires_at <= now() RETURNING {}"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            expired = _all(conn, Upload, query, (list(OPEN_UPLOAD_STATUSES),))
            _settle_videos_after_upload_ended(conn, [u.video_id for u in expired])
            return expired

    def list_open_uploads(self) -> list[Upload]:
        """Uploads still receiving bytes (expired or not), oldest first."""
        query = sql.SQL(
            "SELECT {} FROM uploads WHERE status = ANY(%s) ORDER BY created_at, id"
        ).format(_columns(Upload))
        return self._rows(Upload, query, (list(OPEN_UPLOAD_STATUSES),))

    def known_s3_upload_ids(self, s3_upload_ids: Iterable[str]) -> set[str]:
        """Those of the S3 multipart upload ids that some upload row names, in any state."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT s3_upload_id FROM uploads WHERE s3_upload_id = ANY(%s)",
                (list(s3_upload_ids),),
            ).fetchall()
        return {row[0] for row in rows}

    def list_completed_uploads_pending_ingest(self) -> list[Upload]:
        """For each video awaiting ingest, its latest upload if completed; oldest first."""
        query = sql.SQL(
            "SELECT {} FROM ("
            " SELECT DISTINCT ON (u.video_id) u.* FROM uploads AS u"
            " JOIN videos AS v ON v.id = u.video_id AND v.encoding_status = ANY(%s)"
            " ORDER BY u.video_id, u.created_at DESC, u.id DESC"
            ") AS latest WHERE latest.status = 'completed' ORDER BY latest.completed_at, latest.id"
        ).format(_columns(Upload, "latest"))
        return self._rows(Upload, query, (list(AWAITING_INGEST_STATUSES),))

    def latest_upload(self, video_id: UUID) -> Upload:
        """The newest upload of a video, in whatever state."""
        query = sql.SQL(
            "SELECT {} FROM uploads WHERE video_id = %s ORDER BY created_at DESC, id DESC LIMIT 1"
        ).format(_columns(Upload))
        return self._row(Upload, query, (video_id,), f"upload of video {video_id}")

    def latest_completed_upload(self, video_id: UUID) -> Upload:
        """The newest completed upload of a video: the source that ingest and re-processing read."""
        query = sql.SQL(
            "SELECT {} FROM uploads WHERE video_id = %s AND status = 'completed'"
            " ORDER BY completed_at DESC, id DESC LIMIT 1"
        ).format(_columns(Upload))
        return self._row(Upload, query, (video_id,), f"completed upload of video {video_id}")

    def _refuse_upload_change(self, upload_id: UUID) -> Upload:
        """Raise the reason an upload transition matched no row."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT status, expires_at <= now(), received_bytes, size_bytes"
                " FROM uploads WHERE id = %s",
                (upload_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"upload {upload_id}")
        status, expired, received_bytes, size_bytes = row
        if status not in OPEN_UPLOAD_STATUSES:
            raise InvalidState(f"upload {upload_id} is {status}")
        if expired:
            raise InvalidState(f"upload {upload_id} has expired")
        raise InvalidState(f"upload {upload_id} has {received_bytes} of {size_bytes} bytes")


def _settle_videos_after_upload_ended(conn: Connection, video_ids: Sequence[UUID]) -> None:
    """Return to `pending` the uploading videos whose latest upload was aborted or expired."""
    if not video_ids:
        return
    conn.execute(
        """
        UPDATE videos AS v SET encoding_status = 'pending'
        WHERE v.id = ANY(%s) AND v.encoding_status = 'uploading'
          AND (SELECT u.status FROM uploads AS u WHERE u.video_id = v.id
               ORDER BY u.created_at DESC, u.id DESC LIMIT 1) IN ('aborted', 'expired')
        """,
        (list(set(video_ids)),),
    )


@dataclass(frozen=True)
class UploadQuota:
    """What one account may have on its way at once."""

    open_uploads: int
    bytes_in_flight: int


def _check_quota(conn: Connection, video_id: UUID, size_bytes: int, quota: UploadQuota) -> None:
    """Refuse an upload that would take the owner past `quota`. The owner's row is locked, so
    that concurrent openings are counted one after another."""
    owner = _row_value(conn, "videos", video_id, column="uploaded_by_user_id")
    _row_value(conn, "users", owner, for_update=True)
    row = conn.execute(
        "SELECT count(*), coalesce(sum(u.size_bytes), 0) FROM uploads u"
        " JOIN videos v ON v.id = u.video_id"
        " WHERE v.uploaded_by_user_id = %s AND u.status = ANY(%s) AND u.expires_at > now()"
        # The video's own open upload is aborted by the new one.
        " AND u.video_id <> %s",
        (owner, list(OPEN_UPLOAD_STATUSES), video_id),
    ).fetchone()
    assert row is not None
    open_uploads, in_flight = int(row[0]), int(row[1])
    if open_uploads + 1 > quota.open_uploads:
        raise UploadQuotaExceeded(
            f"{open_uploads} uploads are open; finish or wait for one (at most "
            f"{quota.open_uploads})"
        )
    if in_flight + size_bytes > quota.bytes_in_flight:
        raise UploadQuotaExceeded(
            f"{in_flight} bytes are on their way in open uploads; with {size_bytes} more that is "
            f"over {quota.bytes_in_flight}"
        )
