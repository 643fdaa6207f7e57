"""Videos in the catalog, row by row, against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

import os
from uuid import uuid4

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
from tests.fixtures.catalog import MASTER_KEY, renditions


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
    assert restored.model_dump(exclude={"updated_at"}) == public.model_dump(exclude={"updated_at"})
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
