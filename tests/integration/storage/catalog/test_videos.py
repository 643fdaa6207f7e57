"""Videos in the catalog, row by row, against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

import os
from datetime import timedelta
from uuid import UUID, uuid4

import psycopg
import pytest

from storage.catalog import (
    Catalog,
    DrmScheme,
    EncodingStatus,
    InvalidValue,
    NotFound,
    Role,
    User,
    Video,
    Visibility,
)
from tests.fixtures.catalog import MASTER_KEY, publish, renditions


def test_create_read_update_video(catalog: Catalog, creator: User) -> None:
    video = catalog.create_video(
        creator.id, "  Sintel  ", description="A girl and a dragon", tags=["Fantasy", " fantasy"]
    )

    assert video.title == "Sintel"
    assert video.tags == ("fantasy",)
    assert video.encoding_status is EncodingStatus.PENDING
    assert video.visibility is Visibility.PRIVATE
    assert video.published_version is None
    assert catalog.get_video(video.id) == video

    updated = catalog.update_video(
        video.id, title="Sintel (2010)", tags=["animation", "Blender"], visibility=Visibility.PUBLIC
    )

    assert (updated.title, updated.tags, updated.visibility) == (
        "Sintel (2010)",
        ("animation", "blender"),
        Visibility.PUBLIC,
    )
    assert updated.description == "A girl and a dragon"
    assert updated.updated_at > video.updated_at
    assert catalog.get_video(video.id) == updated
    assert catalog.update_video(video.id) == updated
    with pytest.raises(NotFound):
        catalog.update_video(uuid4(), title="Nobody's")


def test_video_needs_an_existing_uploader_and_a_title(catalog: Catalog, creator: User) -> None:
    with pytest.raises(NotFound):
        catalog.create_video(uuid4(), "Orphan")
    with pytest.raises(InvalidValue):
        catalog.create_video(creator.id, "   ")
    with pytest.raises(NotFound):
        catalog.get_video(uuid4())


def test_get_videos_by_id_leaves_unknown_ids_out(
    catalog: Catalog, creator: User, video: Video
) -> None:
    other = catalog.create_video(creator.id, "Other")

    found = catalog.get_videos([video.id, other.id, video.id, uuid4()])

    assert found == {video.id: video, other.id: other}
    assert catalog.get_videos([]) == {}


def test_list_videos_by_user_newest_first(catalog: Catalog, creator: User) -> None:
    other = catalog.create_user("other@example.com", "hash", role=Role.CREATOR)
    first = catalog.create_video(creator.id, "First")
    second = catalog.create_video(creator.id, "Second")
    catalog.create_video(other.id, "Not mine")

    assert [v.id for v in catalog.list_videos_by_user(creator.id)] == [second.id, first.id]
    assert [v.id for v in catalog.list_videos_by_user(creator.id, limit=1, offset=1)] == [first.id]


def test_set_encoding_status_keeps_failure_reason_with_failed(
    catalog: Catalog, video: Video
) -> None:
    failed = catalog.set_encoding_status(video.id, EncodingStatus.FAILED, "no video stream")
    assert (failed.encoding_status, failed.failure_reason) == (
        EncodingStatus.FAILED,
        "no video stream",
    )

    processing = catalog.set_encoding_status(video.id, EncodingStatus.PROCESSING)
    assert (processing.encoding_status, processing.failure_reason) == (
        EncodingStatus.PROCESSING,
        None,
    )

    with pytest.raises(InvalidValue):
        catalog.set_encoding_status(video.id, EncodingStatus.FAILED)
    with pytest.raises(InvalidValue):
        catalog.set_encoding_status(video.id, EncodingStatus.PROCESSING, "why?")
    with pytest.raises(InvalidValue, match="videos_ready_check"):
        catalog.set_encoding_status(video.id, EncodingStatus.READY)
    with pytest.raises(NotFound):
        catalog.set_encoding_status(uuid4(), EncodingStatus.PROCESSING)


def idle(dsn: str, video_id: UUID, hours: float) -> None:
    """Move the video's last change `hours` into the past (its trigger stamps every UPDATE with
    the time of the UPDATE, so it is held off for this one)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("ALTER TABLE videos DISABLE TRIGGER videos_set_updated_at")
        conn.execute(
            "UPDATE videos SET updated_at = updated_at - make_interval(secs => %s) WHERE id = %s",
            (hours * 3600, video_id),
        )
        conn.execute("ALTER TABLE videos ENABLE TRIGGER videos_set_updated_at")


def completed_upload(catalog: Catalog, video: Video, key: str) -> UUID:
    upload = catalog.create_upload(video.id, object_key=key, size_bytes=1, content_type="video/mp4")
    catalog.record_received(upload.id, 1)
    return catalog.complete_upload(upload.id).id


def test_fail_processing_fails_what_is_processing_and_keeps_a_published_version_playing(
    catalog: Catalog, creator: User, video: Video
) -> None:
    catalog.set_encoding_status(video.id, EncodingStatus.PROCESSING)
    replayed = publish(catalog, catalog.create_video(creator.id, "Published"))
    catalog.set_encoding_status(replayed.id, EncodingStatus.PROCESSING)
    pending = catalog.create_video(creator.id, "Pending")

    failed = catalog.fail_processing(video.id, " renditions_quality: SSIM 0.98 < 0.99 ")
    ready = catalog.fail_processing(replayed.id, "the run was lost")

    assert failed is not None and failed == catalog.get_video(video.id)
    assert (failed.encoding_status, failed.failure_reason) == (
        EncodingStatus.FAILED,
        "renditions_quality: SSIM 0.98 < 0.99",
    )
    assert ready is not None
    assert (ready.encoding_status, ready.failure_reason, ready.published_version) == (
        EncodingStatus.READY,
        None,
        replayed.published_version,
    )
    assert catalog.list_stream_assets(replayed.id) != []
    # Whatever has moved on stays as it is: the first reason is kept.
    assert catalog.fail_processing(video.id, "a later run failed") is None
    assert catalog.get_video(video.id).failure_reason == "renditions_quality: SSIM 0.98 < 0.99"
    assert catalog.fail_processing(replayed.id, "again") is None
    assert catalog.fail_processing(pending.id, "never processed") is None
    assert catalog.get_video(pending.id) == pending
    assert catalog.fail_processing(uuid4(), "gone") is None
    with pytest.raises(InvalidValue):
        catalog.fail_processing(video.id, "  ")


def test_fail_processing_of_a_video_awaiting_ingest_needs_its_latest_upload(
    catalog: Catalog, video: Video
) -> None:
    first = completed_upload(catalog, video, "uploads/first")

    # A run that never started fails the video only for the upload it was queued for.
    assert catalog.fail_processing(video.id, "canceled") is None
    assert catalog.fail_processing(video.id, "canceled", upload_id=uuid4()) is None
    failed = catalog.fail_processing(video.id, "processing was canceled", upload_id=first)
    assert failed is not None and failed.encoding_status is EncodingStatus.FAILED

    # A new upload of the failed video: the old upload's run no longer speaks for it.
    second = catalog.create_upload(
        video.id, object_key="uploads/second", size_bytes=1, content_type="video/mp4"
    )
    assert catalog.fail_processing(video.id, "late", upload_id=first) is None
    assert catalog.fail_processing(video.id, "late", upload_id=second.id) is None
    catalog.record_received(second.id, 1)
    catalog.complete_upload(second.id)
    assert catalog.fail_processing(video.id, "late", upload_id=first) is None
    assert catalog.get_video(video.id).encoding_status is EncodingStatus.UPLOADING


def test_list_stalled_videos_finds_processing_videos_idle_too_long(
    catalog: Catalog, creator: User, catalog_dsn: str
) -> None:
    videos = {name: catalog.create_video(creator.id, name).id for name in "abcde"}
    for name in "abcd":
        catalog.set_encoding_status(videos[name], EncodingStatus.PROCESSING)
    catalog.set_encoding_status(videos["e"], EncodingStatus.FAILED, "rejected")
    idle(catalog_dsn, videos["a"], 3)
    idle(catalog_dsn, videos["b"], 5)
    idle(catalog_dsn, videos["c"], 1)
    idle(catalog_dsn, videos["e"], 5)

    stalled = catalog.list_stalled_videos(timedelta(hours=2))

    assert [v.id for v in stalled] == [videos["b"], videos["a"]]
    assert [v.id for v in catalog.list_stalled_videos(timedelta(hours=2), limit=1)] == [videos["b"]]
    # Any change starts the wait again.
    catalog.update_video(videos["b"], title="Renamed")
    assert [v.id for v in catalog.list_stalled_videos(timedelta(hours=2))] == [videos["a"]]


def test_takedown_and_restore(catalog: Catalog, video: Video) -> None:
    public = catalog.update_video(video.id, visibility=Visibility.PUBLIC)

    taken_down = catalog.take_down_video(video.id, "  copyright claim ")
    again = catalog.take_down_video(video.id, "second claim")

    assert (taken_down.takedown_reason, taken_down.visibility) == (
        "copyright claim",
        Visibility.PUBLIC,
    )
    assert taken_down.taken_down_at is not None
    assert again.takedown_reason == "second claim"
    assert again.taken_down_at == taken_down.taken_down_at
    with pytest.raises(InvalidValue):
        catalog.take_down_video(video.id, " ")
    restored = catalog.restore_video(video.id)
    changing = {"updated_at", "rights_version"}
    assert restored.model_dump(exclude=changing) == public.model_dump(exclude=changing)
    # Who may watch changed twice (taken down, restored); the second takedown changed nothing.
    assert (taken_down.rights_version, again.rights_version, restored.rights_version) == (
        public.rights_version + 1,
        public.rights_version + 1,
        public.rights_version + 2,
    )
    # Edits that leave who may watch alone leave the rights version alone.
    assert catalog.update_video(video.id, title="Renamed").rights_version == restored.rights_version
    assert catalog.restore_video(video.id).taken_down_at is None
    with pytest.raises(NotFound):
        catalog.take_down_video(uuid4(), "gone")
    with pytest.raises(NotFound):
        catalog.restore_video(uuid4())


def test_delete_video_returns_the_row_and_its_uploads(
    catalog: Catalog, creator: User, video: Video
) -> None:
    first = catalog.create_upload(
        video.id, object_key="uploads/a", size_bytes=10, content_type="video/mp4"
    )
    second = catalog.create_upload(
        video.id, object_key="uploads/b", size_bytes=10, content_type="video/mp4"
    )
    kept = catalog.create_video(creator.id, "Kept")

    deleted, uploads = catalog.delete_video(video.id)

    assert deleted.id == video.id
    assert [u.id for u in uploads] == [first.id, second.id]
    with pytest.raises(NotFound):
        catalog.get_video(video.id)
    with pytest.raises(NotFound):
        catalog.get_upload(first.id)
    assert catalog.get_video(kept.id) == kept
    with pytest.raises(NotFound):
        catalog.delete_video(video.id)


def test_deleting_a_video_removes_what_belongs_to_it(
    catalog: Catalog, creator: User, video: Video, catalog_dsn: str
) -> None:
    catalog.create_upload(
        video.id, object_key="uploads/x/source", size_bytes=10, content_type="video/mp4"
    )
    key = catalog.put_drm_key(video.id, uuid4(), os.urandom(16), DrmScheme.CBCS, MASTER_KEY)
    catalog.publish_video(video.id, "v1", renditions("v1", key.key_id), "https://x/p.jpg", 5.0)
    catalog.add_comment(video.id, creator.id, "first")

    with psycopg.connect(catalog_dsn) as conn:
        conn.execute("DELETE FROM videos WHERE id = %s", (video.id,))
        counts = [
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            for table in ("stream_assets", "drm_keys", "comments", "uploads")
        ]
    assert counts == [(0,)] * 4
