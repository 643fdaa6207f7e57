"""The assets' resources: each opens what its configuration names for a run, and closes it."""

from __future__ import annotations

import secrets
from pathlib import Path
from uuid import uuid4

import pytest
from dagster import DagsterResourceFunctionError, build_resources
from psycopg_pool import PoolClosed

from assets.resources import CatalogResource, HistoryResource, MediaResource, ObjectStoreResource
from media.probe import MediaRejected, probe
from reelflow import connect
from reelflow.settings import Settings
from storage.keyspace import SchemaOutOfDate
from storage.objects import LocalObjectStore, S3ObjectStore


def object_store_resource(settings: Settings, **overrides: str | None) -> ObjectStoreResource:
    fields: dict[str, str | None] = {
        "kind": "local",
        "s3_bucket": settings.s3_bucket,
        "s3_endpoint_url": settings.s3_endpoint_url,
        "s3_region": settings.s3_region,
        "s3_access_key_id": settings.s3_access_key_id,
        "s3_secret_access_key": settings.s3_secret_access_key.get_secret_value(),
        "cdn_base_url": "https://cdn.example/media",
        "url_signing_secret": "resource-test-signing-secret",
    }
    return ObjectStoreResource(**(fields | overrides))


def test_the_catalog_is_open_for_the_run_only(catalog_dsn: str) -> None:
    resource = CatalogResource(dsn=catalog_dsn, pool_max=2)
    with pytest.raises(AssertionError, match="outside of an execution"):
        resource.catalog  # noqa: B018 - the property is the behaviour under test
    with build_resources({"catalog": resource}) as built:
        catalog = built.catalog.catalog
        user = catalog.create_user("resource@example.com", "argon2-hash")
        assert catalog.get_user(user.id).email == "resource@example.com"
    with pytest.raises(PoolClosed):
        catalog.get_user(user.id)


def test_history_is_open_on_its_keyspace_for_the_run(
    dev_stack: Settings, history_keyspace: str
) -> None:
    settings = dev_stack.model_copy(update={"cassandra_keyspace": history_keyspace})
    resource = HistoryResource(
        contact_points=dev_stack.cassandra_contact_points,
        port=dev_stack.cassandra_port,
        keyspace=history_keyspace,
        local_dc=dev_stack.cassandra_local_dc,
        read_consistency="LOCAL_QUORUM",
        write_consistency="LOCAL_QUORUM",
        event_buckets=2,
        watch_event_ttl_days=dev_stack.watch_event_ttl_days,
        pseudonym_key="resource-test-pseudonym-key",
    )
    # A run refuses a keyspace `reelflow migrate` has not brought to this release's schema.
    with (
        pytest.raises(DagsterResourceFunctionError) as refused,
        build_resources({"history": resource}),
    ):
        pass
    assert isinstance(refused.value.__cause__, SchemaOutOfDate)
    assert "Run `reelflow migrate` first" in str(refused.value.__cause__)
    connect.migrate_history(settings)
    user, video = uuid4(), uuid4()
    with build_resources({"history": resource}) as built:
        history = built.history.history
        history.record_watch(user, video, 12.0, 60.0, watched_delta_s=12.0, session_id=uuid4())
        assert [entry.video_id for entry in history.history(user)] == [video]
    # Written to the keyspace the resource names, where any other reader finds it.
    with connect.history(settings) as h:
        assert [entry.video_id for entry in h.history(user)] == [video]


def test_the_object_store_is_the_kind_configured(dev_stack: Settings, tmp_path: Path) -> None:
    local = object_store_resource(dev_stack, local_dir=str(tmp_path / "objects")).store()
    assert isinstance(local, LocalObjectStore) and local.root == tmp_path / "objects"
    local.put_bytes("a/b", b"local bytes")
    assert (tmp_path / "objects" / "a" / "b").read_bytes() == b"local bytes"

    bucket = f"reelflow-test-{secrets.token_hex(6)}"
    s3 = object_store_resource(dev_stack, kind="s3", s3_bucket=bucket).store()
    assert isinstance(s3, S3ObjectStore) and s3.bucket == bucket
    s3.ensure_bucket()
    try:
        s3.put_bytes("a/b", b"s3 bytes")
        assert connect.s3_store(dev_stack, bucket).get_bytes("a/b") == b"s3 bytes"
    finally:
        s3.delete("a/b")
        s3.client.delete_bucket(Bucket=bucket)


def test_media_settings_address_work_files_keys_and_published_objects(
    tmp_path: Path, clip_small: Path
) -> None:
    media = MediaResource(
        work_dir=str(tmp_path / "work"),
        segment_s=2.0,
        max_duration_s=1.0,
        max_width=7680,
        max_height=4320,
        drm_scheme="cbcs",
        drm_master_key="resource-test-master-key",
        ssim_floor=0.9,
        x264_preset="ultrafast",
        cdn_base_url="https://cdn.example/media/",
        api_base_url="https://api.example",
    )
    # Each step works in a directory of its own, gone when the step ends, however it ends.
    with media.step_dir() as first, media.step_dir() as second:
        assert first.parent == second.parent == tmp_path / "work" and first != second
        (first / "made").write_bytes(b"x")
    with pytest.raises(RuntimeError), media.step_dir() as failed:
        (failed / "made").write_bytes(b"x")
        raise RuntimeError("the step failed")
    assert list((tmp_path / "work").iterdir()) == []
    assert media.hls_key_uri("v1") == "https://api.example/api/v1/drm/hls-key/v1"
    assert media.cdn_url("videos/v1/x.m3u8") == "https://cdn.example/media/videos/v1/x.m3u8"
    # The limits a source is validated against are the configured ones.
    with pytest.raises(MediaRejected) as rejected:
        probe(clip_small, media.limits())
    assert rejected.value.reason == "too_long"
    longer = MediaResource(**(media.model_dump() | {"max_duration_s": 10.0}))
    assert probe(clip_small, longer.limits()).duration_s < 10.0
