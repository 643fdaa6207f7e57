"""The media lifecycle with a process per step on the S3 store: steps hand each other object
keys, their outputs are pickled in the bucket, and no step finds anything another left on disk."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from dagster import DagsterEventType, execute_job, instance_for_test, reconstructable

from assets.ingest import VIDEO_PARTITIONS
from media.samples import make_clip
from pipelines.jobs import VIDEO_TAG
from pipelines.resources import IO_PREFIX
from reelflow import connect, layout
from reelflow.settings import Settings
from storage.catalog import EncodingStatus, Visibility
from storage.objects import S3ObjectStore
from tests.fixtures.media_pipeline import MEDIA_ASSETS, multiprocess_media_job
from tests.fixtures.uploads import finished_upload


def test_each_step_runs_in_a_process_of_its_own_and_shares_no_disk(
    dev_stack: Settings, catalog_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The step processes build their resources from this environment.
    environment = {
        "REELFLOW_POSTGRES_DSN": catalog_dsn,
        "REELFLOW_OBJECT_STORE": "s3",
        "REELFLOW_S3_BUCKET": f"reelflow-test-{secrets.token_hex(6)}",
        "REELFLOW_WORK_DIR": str(tmp_path / "work"),
        "REELFLOW_X264_PRESET": "ultrafast",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    store = connect.object_store(settings)
    assert isinstance(store, S3ObjectStore)
    store.ensure_bucket()
    home = tmp_path / "dagster-home"
    home.mkdir()
    try:
        with (
            connect.catalog(settings) as catalog,
            instance_for_test(temp_dir=str(home)) as instance,
        ):
            source = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0)
            video_id = finished_upload(catalog, store, source, Visibility.PREMIUM)
            partition = str(video_id)
            instance.add_dynamic_partitions(VIDEO_PARTITIONS, [partition])
            job = multiprocess_media_job()
            with execute_job(
                reconstructable(multiprocess_media_job),
                instance,
                tags=job.get_tags_for_partition_key(partition, selected_asset_keys=None),
                run_config={"execution": {"config": {"max_concurrent": 2}}},
            ) as result:
                assert result.success
                assert result.dagster_run.tags[VIDEO_TAG] == partition
                started = {
                    event.step_key: event.pid
                    for event in result.all_events
                    if event.event_type == DagsterEventType.STEP_START
                }
            storage = Path(instance.storage_directory())
            video = catalog.get_video(video_id)

        assert sorted(started) == sorted(asset.key.to_user_string() for asset in MEDIA_ASSETS)
        assert len(set(started.values())) == len(started)
        assert os.getpid() not in started.values()
        assert video.encoding_status == EncodingStatus.READY
        assert video.published_version is not None
        assert store.exists(layout.hls_aes_master_key(video_id, video.published_version))
        # Every step's directory went with its step; the outputs are in the bucket only.
        assert list((tmp_path / "work").iterdir()) == []
        assert not [path for path in storage.rglob(partition) if path.is_file()]
        pickled = sorted(key.split("/")[-2] for key in store.list(IO_PREFIX))
        assert pickled == sorted(started)
        assert store.list(layout.video_work_prefix(video_id)) == []
    finally:
        store.delete_bucket()
