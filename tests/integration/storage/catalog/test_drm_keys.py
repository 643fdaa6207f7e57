"""DRM keys in the catalog against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

import os
from uuid import uuid4

import psycopg
import pytest

from storage.catalog import Catalog, DrmKeyConflict, DrmScheme, NotFound, User, Video
from storage.crypto import KeyUnwrapError
from tests.fixtures.catalog import MASTER_KEY


def test_drm_key_roundtrip(catalog: Catalog, video: Video, catalog_dsn: str) -> None:
    key_id, content_key = uuid4(), os.urandom(16)

    stored = catalog.put_drm_key(video.id, key_id, content_key, DrmScheme.CENC, MASTER_KEY)

    assert (stored.key_id, stored.video_id, stored.scheme) == (key_id, video.id, DrmScheme.CENC)
    unwrapped = catalog.get_drm_key(key_id, MASTER_KEY)
    assert unwrapped.content_key == content_key
    assert unwrapped.video_id == video.id
    assert content_key.hex() not in repr(unwrapped)
    assert catalog.keys_for_video(video.id) == [stored]
    with psycopg.connect(catalog_dsn) as conn:
        row = conn.execute("SELECT wrapped_content_key FROM drm_keys").fetchone()
    assert row is not None and content_key not in row[0]


def test_drm_key_with_a_wrong_master_key_fails(catalog: Catalog, video: Video) -> None:
    key_id = uuid4()
    catalog.put_drm_key(video.id, key_id, os.urandom(16), DrmScheme.CENC, MASTER_KEY)

    with pytest.raises(KeyUnwrapError):
        catalog.get_drm_key(key_id, "another-master-secret")


def test_drm_key_moved_to_another_video_fails(
    catalog: Catalog, creator: User, video: Video, catalog_dsn: str
) -> None:
    key_id = uuid4()
    catalog.put_drm_key(video.id, key_id, os.urandom(16), DrmScheme.CENC, MASTER_KEY)
    other = catalog.create_video(creator.id, "Other")

    with psycopg.connect(catalog_dsn) as conn:
        conn.execute("UPDATE drm_keys SET video_id = %s WHERE key_id = %s", (other.id, key_id))

    with pytest.raises(KeyUnwrapError):
        catalog.get_drm_key(key_id, MASTER_KEY)


def test_storing_a_drm_key_again(catalog: Catalog, creator: User, video: Video) -> None:
    key_id, content_key = uuid4(), os.urandom(16)
    first = catalog.put_drm_key(video.id, key_id, content_key, DrmScheme.CBCS, MASTER_KEY)

    assert catalog.put_drm_key(video.id, key_id, content_key, DrmScheme.CBCS, MASTER_KEY) == first
    with pytest.raises(DrmKeyConflict):
        catalog.put_drm_key(video.id, key_id, os.urandom(16), DrmScheme.CBCS, MASTER_KEY)
    with pytest.raises(DrmKeyConflict):
        catalog.put_drm_key(video.id, key_id, content_key, DrmScheme.CENC, MASTER_KEY)
    other = catalog.create_video(creator.id, "Other")
    with pytest.raises(DrmKeyConflict):
        catalog.put_drm_key(other.id, key_id, content_key, DrmScheme.CBCS, MASTER_KEY)
    assert catalog.get_drm_key(key_id, MASTER_KEY).content_key == content_key


def test_drm_key_needs_an_existing_video(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        catalog.put_drm_key(uuid4(), uuid4(), os.urandom(16), DrmScheme.CENC, MASTER_KEY)
    with pytest.raises(NotFound):
        catalog.get_drm_key(uuid4(), MASTER_KEY)


def test_keys_by_id_across_videos(catalog: Catalog, creator: User, video: Video) -> None:
    other = catalog.create_video(creator.id, "Other")
    mine = catalog.put_drm_key(video.id, uuid4(), os.urandom(16), DrmScheme.CENC, MASTER_KEY)
    theirs = catalog.put_drm_key(other.id, uuid4(), os.urandom(16), DrmScheme.CBCS, MASTER_KEY)

    found = catalog.drm_keys_by_id([theirs.key_id, mine.key_id, mine.key_id, uuid4()])

    assert found == sorted([mine, theirs], key=lambda key: key.key_id)
    assert catalog.keys_for_video(other.id) == [theirs]
    assert catalog.drm_keys_by_id([]) == []
