"""The media lifecycle on real services: upload -> sensor -> every stage -> published streams."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from dagster import (
    DagsterInstance,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
    materialize,
)

from assets.resources import MediaResource
from media import checks
from media.ladder import plan_ladder
from media.probe import probe
from media.samples import make_clip
from pipelines.sensors import upload_sensor
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus, StreamFormat, Visibility
from storage.objects import ObjectStore, S3ObjectStore
from tests.fixtures.media_pipeline import MEDIA_ASSETS, MEDIA_CHECKS, media_resources
from tests.fixtures.uploads import finished_upload


@dataclass
class Platform:
    """A fresh catalog and object store, and resources that point at them."""

    settings: Settings
    catalog: Catalog
    store: ObjectStore
    resources: dict[str, object]
    instance: DagsterInstance


@pytest.fixture(params=["local", "s3"])
def platform(
    request: pytest.FixtureRequest,
    dev_stack: Settings,
    catalog: Catalog,
    catalog_dsn: str,
    tmp_path: Path,
) -> Iterator[Platform]:
    update: dict[str, object] = {
        "postgres_dsn": catalog_dsn,
        "object_store": request.param,
        "object_store_dir": tmp_path / "objects",
        "work_dir": tmp_path / "work",
        "s3_bucket": f"reelflow-test-{secrets.token_hex(6)}",
        "x264_preset": "ultrafast",
    }
    settings = dev_stack.model_copy(update=update)
    store = connect.object_store(settings)
    if isinstance(store, S3ObjectStore):
        store.ensure_bucket()
    with instance_for_test() as instance:
        resources = media_resources(settings)
        yield Platform(settings, catalog, store, resources, instance)
    if isinstance(store, S3ObjectStore):
        for key in store.list(""):
            store.delete(key)
        store.client.delete_bucket(Bucket=settings.s3_bucket)


def upload(platform: Platform, source: Path, visibility: Visibility) -> UUID:
    return finished_upload(platform.catalog, platform.store, source, visibility)


def run_sensor(platform: Platform) -> SensorResult:
    with build_sensor_context(instance=platform.instance, resources=platform.resources) as context:
        result = upload_sensor(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        platform.instance.add_dynamic_partitions(
            request.partitions_def_name, request.partition_keys
        )
    return result


def run_lifecycle(platform: Platform, video_id: UUID, **overrides: object) -> bool:
    resources = dict(platform.resources)
    if overrides:
        media = resources["media"]
        assert isinstance(media, MediaResource)
        resources["media"] = MediaResource(**(media.model_dump() | overrides))
    result = materialize(
        [*MEDIA_ASSETS, *MEDIA_CHECKS],
        partition_key=str(video_id),
        resources=resources,
        instance=platform.instance,
        raise_on_error=False,
    )
    return result.success


def key_of(settings: Settings, cdn_url: str) -> str:
    base = settings.cdn_base_url.rstrip("/") + "/"
    assert cdn_url.startswith(base)
    return cdn_url[len(base) :]


def download_version(platform: Platform, video_id: UUID, version: str, target: Path) -> Path:
    prefix = f"videos/{video_id}/{version}/"
    keys = platform.store.list(prefix)
    assert keys, f"nothing published under {prefix}"
    for key in keys:
        path = target / key[len(prefix) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        platform.store.download(key, path)
    return target


def test_upload_to_published_streams(platform: Platform, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", width=640, height=360, duration_s=4.0)
    premium = platform.settings.object_store == "s3"
    visibility = Visibility.PREMIUM if premium else Visibility.PUBLIC
    video_id = upload(platform, source, visibility)

    sensed = run_sensor(platform)
    assert [r.partition_key for r in sensed.run_requests or []] == [str(video_id)]
    assert platform.instance.get_dynamic_partitions("videos") == [str(video_id)]
    run_key = (sensed.run_requests or [])[0].run_key
    assert run_key is not None and run_key.startswith(f"{video_id}:")

    assert run_lifecycle(platform, video_id)

    video = platform.catalog.get_video(video_id)
    assert video.encoding_status == EncodingStatus.READY
    assert video.published_version is not None
    assert video.duration_s == pytest.approx(4.0, abs=0.1)
    assets = platform.catalog.list_stream_assets(video_id)
    planned = plan_ladder(probe(source), segment_s=platform.settings.segment_s)
    heights = sorted({a.height for a in assets})
    assert heights == sorted(r.height for r in planned.rungs) == [234, 360]
    assert {a.format for a in assets} == {StreamFormat.HLS, StreamFormat.DASH}
    assert len(assets) == 2 * len(heights)
    for asset in assets:
        assert platform.store.exists(key_of(platform.settings, asset.cdn_url))
    assert video.thumbnail_url is not None
    assert platform.store.exists(key_of(platform.settings, video.thumbnail_url))

    published = download_version(platform, video_id, video.published_version, tmp_path / "pub")
    resolved = checks.manifests_resolve(published / "stream")
    assert resolved.passed, resolved.description
    assert (published / "thumbs" / "thumbnails.vtt").read_text().startswith("WEBVTT")

    keys = platform.catalog.keys_for_video(video_id)
    if premium:
        assert {k.scheme.value for k in keys} == {platform.settings.drm_scheme, "aes-128"}
        assert all(a.drm_key_id is not None for a in assets)
        mpd = next(published.glob("stream/*.mpd")).read_text()
        assert "e2719d58-a985-b3c9-781a-b030af78d30e" in mpd  # W3C ClearKey
        assert "METHOD=AES-128" in "".join(
            p.read_text() for p in (published / "hls-aes").rglob("*.m3u8")
        )
        for stored in keys:
            content = platform.catalog.get_drm_key(
                stored.key_id, platform.settings.drm_master_key.get_secret_value()
            ).content_key
            for path in published.rglob("*"):
                if path.is_file():
                    data = path.read_bytes()
                    assert content not in data and content.hex().encode() not in data, path
    else:
        assert keys == []
        assert not any(published.glob("hls-aes"))

    # Re-processing publishes a new version; the previous one stays readable, rows don't pile up.
    first = video.published_version
    assert run_lifecycle(platform, video_id)
    again = platform.catalog.get_video(video_id)
    assert again.published_version is not None and again.published_version != first
    assert len(platform.catalog.list_stream_assets(video_id)) == len(assets)
    assert platform.store.list(f"videos/{video_id}/{first}/")
    if premium:
        assert len(platform.catalog.keys_for_video(video_id)) == len(keys)


def test_failed_check_blocks_publishing(platform: Platform, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", width=320, height=240, duration_s=2.0)
    video_id = upload(platform, source, Visibility.PUBLIC)
    run_sensor(platform)
    # A quality floor no lossy encode reaches: the real check fails, and blocks what follows.
    assert not run_lifecycle(platform, video_id, ssim_floor=0.9999)
    video = platform.catalog.get_video(video_id)
    assert video.published_version is None
    assert video.encoding_status == EncodingStatus.PROCESSING
    assert platform.store.list(f"videos/{video_id}") == []
    assert platform.catalog.list_stream_assets(video_id) == []


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty", b"", "empty_file"),
        ("text", b"this is not a video, only words\n" * 20, "not_media"),
    ],
)
def test_bad_upload_fails_with_a_reason(
    platform: Platform, tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    source = tmp_path / f"{name}.mp4"
    source.write_bytes(content)
    video_id = upload(platform, source, Visibility.PUBLIC)
    run_sensor(platform)
    assert not run_lifecycle(platform, video_id)
    video = platform.catalog.get_video(video_id)
    assert video.encoding_status == EncodingStatus.FAILED
    assert video.failure_reason is not None and video.failure_reason.startswith(reason)
    assert platform.store.list(f"videos/{video_id}") == []
    # A failed video awaits a new upload; the sensor does not start it again.
    with build_sensor_context(instance=platform.instance, resources=platform.resources) as context:
        assert isinstance(upload_sensor(context), SkipReason)
