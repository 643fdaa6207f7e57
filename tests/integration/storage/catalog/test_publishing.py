"""Publishing versions and their stream assets against a real PostgreSQL database."""

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
    StreamFormat,
    User,
    Video,
)
from tests.fixtures.catalog import MASTER_KEY, publish, renditions


def test_publishing_the_same_version_twice_keeps_one_set_of_assets(
    catalog: Catalog, video: Video, catalog_dsn: str
) -> None:
    first = publish(catalog, video, "v1")
    again = publish(catalog, video, "v1")

    assert again.published_version == "v1"
    assert again.encoding_status is EncodingStatus.READY
    assert again.published_at == first.published_at
    assets = catalog.list_stream_assets(video.id)
    assert len(assets) == 4
    assert {(a.format, a.resolution) for a in assets} == {
        (fmt, res) for fmt in StreamFormat for res in ("1280x720", "640x360")
    }
    with psycopg.connect(catalog_dsn) as conn:
        count = conn.execute("SELECT count(*) FROM stream_assets").fetchone()
    assert count == (4,)


def test_a_new_version_switches_the_assets(catalog: Catalog, video: Video) -> None:
    publish(catalog, video, "v1")

    published = catalog.publish_video(
        video.id,
        "v2",
        renditions("v2")[:1],
        "https://cdn.example/v2/poster.jpg",
        5.4,
    )

    assert published.published_version == "v2"
    assert published.thumbnail_url == "https://cdn.example/v2/poster.jpg"
    assert published.duration_s == 5.4
    assets = catalog.list_stream_assets(video.id)
    assert [(a.version, a.cdn_url) for a in assets] == [
        ("v2", "https://cdn.example/v2/hls/720.m3u8")
    ]


def test_stream_assets_are_listed_by_format_then_best_first(catalog: Catalog, video: Video) -> None:
    publish(catalog, video, "v1")

    assets = catalog.list_stream_assets(video.id)

    assert [(a.format, a.height, a.version) for a in assets] == [
        (StreamFormat.DASH, 720, "v1"),
        (StreamFormat.DASH, 360, "v1"),
        (StreamFormat.HLS, 720, "v1"),
        (StreamFormat.HLS, 360, "v1"),
    ]


def test_a_failed_publish_leaves_the_previous_version_whole(
    catalog: Catalog, creator: User, video: Video, catalog_dsn: str
) -> None:
    publish(catalog, video, "v1")
    before = catalog.list_stream_assets(video.id)
    other_video = catalog.create_video(creator.id, "Other")
    foreign_key = catalog.put_drm_key(
        other_video.id, uuid4(), os.urandom(16), DrmScheme.CENC, MASTER_KEY
    )

    with pytest.raises(InvalidValue, match="DRM key"):
        catalog.publish_video(
            video.id, "v2", renditions("v2", foreign_key.key_id), "https://x/p.jpg", 5.0
        )

    assert catalog.get_video(video.id).published_version == "v1"
    assert catalog.list_stream_assets(video.id) == before
    with psycopg.connect(catalog_dsn) as conn:
        v2_rows = conn.execute("SELECT count(*) FROM stream_assets WHERE version = 'v2'")
        assert v2_rows.fetchone() == (0,)


def test_publish_refuses_empty_or_repeated_renditions(catalog: Catalog, video: Video) -> None:
    with pytest.raises(InvalidValue):
        catalog.publish_video(video.id, "v1", [], "https://x/p.jpg", 5.0)
    with pytest.raises(InvalidValue, match="repeat"):
        catalog.publish_video(video.id, "v1", renditions("v1") * 2, "https://x/p.jpg", 5.0)
    with pytest.raises(NotFound):
        catalog.publish_video(uuid4(), "v1", renditions("v1"), "https://x/p.jpg", 5.0)


def test_stream_assets_of_an_unpublished_video(catalog: Catalog, video: Video) -> None:
    assert catalog.list_stream_assets(video.id) == []
    with pytest.raises(NotFound):
        catalog.list_stream_assets(uuid4())
