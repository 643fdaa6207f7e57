"""Uploads and the encoding states they drive, against a real PostgreSQL database."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import psycopg
import pytest

from storage.catalog import (
    Catalog,
    Conflict,
    EncodingStatus,
    InvalidState,
    InvalidValue,
    NotFound,
    UploadStatus,
    User,
    Video,
)


def test_upload_lifecycle(catalog: Catalog, video: Video) -> None:
    upload = catalog.create_upload(
        video.id,
        object_key=f"uploads/{video.id}/source",
        size_bytes=1000,
        content_type="video/mp4",
        s3_upload_id="mpu-1",
    )
    assert upload.status is UploadStatus.INITIATED
    assert upload.expires_at > upload.created_at
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.UPLOADING

    assert catalog.record_received(upload.id, 400).status is UploadStatus.RECEIVING
    # A late report of an earlier offset does not move the count back.
    assert catalog.record_received(upload.id, 100).received_bytes == 400
    with pytest.raises(InvalidState, match="400 of 1000"):
        catalog.complete_upload(upload.id)
    with pytest.raises(InvalidValue):
        catalog.record_received(upload.id, 1001)
    assert catalog.list_completed_uploads_pending_ingest() == []

    catalog.record_received(upload.id, 1000)
    completed = catalog.complete_upload(upload.id)

    assert completed.status is UploadStatus.COMPLETED
    assert completed.completed_at is not None
    assert catalog.get_upload(upload.id) == completed
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.UPLOADING
    assert catalog.list_completed_uploads_pending_ingest() == [completed]
    with pytest.raises(InvalidState, match="completed"):
        catalog.complete_upload(upload.id)
    with pytest.raises(InvalidState):
        catalog.record_received(upload.id, 1000)

    catalog.set_encoding_status(video.id, EncodingStatus.PROCESSING)
    assert catalog.list_completed_uploads_pending_ingest() == []
    with pytest.raises(InvalidState, match="processing"):
        catalog.create_upload(
            video.id, object_key="uploads/again", size_bytes=1, content_type="video/mp4"
        )


def test_a_new_upload_supersedes_the_open_one(catalog: Catalog, video: Video) -> None:
    old = catalog.create_upload(
        video.id, object_key="uploads/a", size_bytes=10, content_type="video/mp4"
    )
    new = catalog.create_upload(
        video.id, object_key="uploads/b", size_bytes=10, content_type="video/mp4"
    )

    assert catalog.get_upload(old.id).status is UploadStatus.ABORTED
    assert catalog.get_upload(new.id).status is UploadStatus.INITIATED
    assert catalog.latest_upload(video.id) == new
    with pytest.raises(InvalidState):
        catalog.record_received(old.id, 5)
    with pytest.raises(Conflict):
        catalog.create_upload(
            video.id, object_key="uploads/b", size_bytes=10, content_type="video/mp4"
        )


def test_abort_upload_returns_the_video_to_pending(catalog: Catalog, video: Video) -> None:
    upload = catalog.create_upload(
        video.id, object_key="uploads/a", size_bytes=10, content_type="video/mp4"
    )

    aborted = catalog.abort_upload(upload.id)

    assert aborted.status is UploadStatus.ABORTED
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.PENDING
    with pytest.raises(InvalidState, match="aborted"):
        catalog.abort_upload(upload.id)
    with pytest.raises(NotFound):
        catalog.abort_upload(uuid4())


def test_expired_uploads(catalog: Catalog, video: Video, catalog_dsn: str) -> None:
    ttl = timedelta(minutes=5)
    upload = catalog.create_upload(
        video.id, object_key="uploads/a", size_bytes=10, content_type="video/mp4", ttl=ttl
    )
    assert upload.expires_at - upload.created_at == ttl
    assert catalog.expire_uploads() == []
    # Moving the upload back in time expires it without waiting for the clock.
    with psycopg.connect(catalog_dsn) as conn:
        conn.execute(
            "UPDATE uploads SET created_at = created_at - interval '1 hour',"
            " expires_at = expires_at - interval '1 hour' WHERE id = %s",
            (upload.id,),
        )

    with pytest.raises(InvalidState, match="expired"):
        catalog.record_received(upload.id, 10)
    assert [u.id for u in catalog.list_open_uploads()] == [upload.id]

    expired = catalog.expire_uploads()

    assert [(u.id, u.status) for u in expired] == [(upload.id, UploadStatus.EXPIRED)]
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.PENDING
    assert catalog.expire_uploads() == []
    assert catalog.list_open_uploads() == []


def test_open_uploads_and_known_multipart_ids(
    catalog: Catalog, creator: User, video: Video
) -> None:
    other = catalog.create_video(creator.id, "Other")
    first = catalog.create_upload(
        video.id, object_key="uploads/1", size_bytes=10, content_type="video/mp4", s3_upload_id="a"
    )
    done = catalog.create_upload(
        other.id, object_key="uploads/2", size_bytes=10, content_type="video/mp4", s3_upload_id="b"
    )
    catalog.record_received(done.id, 10)
    catalog.complete_upload(done.id)
    second = catalog.create_upload(
        video.id, object_key="uploads/3", size_bytes=10, content_type="video/mp4"
    )

    # The first upload was superseded by the second; the other video's is completed.
    assert [u.id for u in catalog.list_open_uploads()] == [second.id]
    assert catalog.known_s3_upload_ids(["a", "b", "c"]) == {"a", "b"}
    assert catalog.known_s3_upload_ids([]) == set()
    assert catalog.get_upload(first.id).status is UploadStatus.ABORTED
    with pytest.raises(NotFound):
        catalog.latest_upload(catalog.create_video(creator.id, "Never uploaded").id)


def test_pending_ingest_is_the_latest_completed_upload_of_waiting_videos(
    catalog: Catalog, creator: User, video: Video
) -> None:
    def upload_completely(target: Video, key: str) -> UUID:
        upload = catalog.create_upload(
            target.id, object_key=key, size_bytes=10, content_type="video/mp4"
        )
        catalog.record_received(upload.id, 10)
        return catalog.complete_upload(upload.id).id

    first = upload_completely(video, "uploads/1")
    catalog.set_encoding_status(video.id, EncodingStatus.FAILED, "corrupt source")
    other = catalog.create_video(creator.id, "Other")
    other_upload = upload_completely(other, "uploads/other")

    # A failed ingest is not retried by itself.
    assert [u.id for u in catalog.list_completed_uploads_pending_ingest()] == [other_upload]

    retry = catalog.create_upload(
        video.id, object_key="uploads/2", size_bytes=10, content_type="video/mp4"
    )
    # The new upload is still open: the earlier completed one must not be ingested instead.
    assert [u.id for u in catalog.list_completed_uploads_pending_ingest()] == [other_upload]
    assert catalog.latest_completed_upload(video.id).id == first

    catalog.record_received(retry.id, 10)
    catalog.complete_upload(retry.id)

    pending = [u.id for u in catalog.list_completed_uploads_pending_ingest()]
    assert pending == [other_upload, retry.id]
    assert first not in pending
    assert catalog.latest_completed_upload(video.id).id == retry.id
    with pytest.raises(NotFound):
        catalog.latest_completed_upload(uuid4())
