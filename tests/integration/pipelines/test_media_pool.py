"""The media lifecycle on a worker pool: uploads picked up by the daemon's sensor, their steps on
two `reelflow worker` processes that stand for two hosts, failures included.

One pool serves the module: a Dagster daemon and two workers (`devstack.pool`), each in a
directory of its own, on a RabbitMQ node of the module's own (it is restarted by a test), a
Dagster instance in a new PostgreSQL database, a new catalog database and a new S3 bucket. Each
test uploads videos of its own; it starts with the broker up and two workers.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from dagster import DagsterEventType, DagsterRunStatus

from devstack.pool import (
    bucket,
    database,
    database_dsn,
    node_of,
    own_broker,
    pool_environment,
    worker_pool,
)
from devstack.processes import group_members
from devstack.rabbitmq import RabbitMQ
from media.samples import make_clip
from pipelines.recovery import failure_reason
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus
from tests.fixtures.pool import MEDIA_STEPS, MediaPool

# Beside the shared stack's broker and those of the broker tests (+100, +200).
BROKER_PORT = RabbitMQ(Settings()).port + 300
WORKERS = 2
# Long enough an encode (seconds, at ultrafast) to be caught in the middle.
LONG_CLIP = {"width": 640, "height": 272, "duration_s": 30.0}
ENCODE_POLL_S = 0.05
SHORT_CLIP = {"width": 320, "height": 180, "duration_s": 2.0}
# Binary noise that changes every frame: no rendition keeps it, so the quality check fails.
NOISE = "life=ratio=0.5:random_seed=7:mold=0"


@pytest.fixture(scope="module")
def media_pool(
    dev_stack: Settings, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MediaPool]:
    directory = tmp_path_factory.mktemp("pool")
    admin = dev_stack.postgres_dsn
    with (
        own_broker(directory / "broker", BROKER_PORT) as broker,
        database(admin) as instance_db,
        database(admin, template=migrated_template) as catalog_db,
        bucket(dev_stack) as store,
        Catalog(database_dsn(admin, catalog_db), max_size=2) as catalog,
    ):
        environment = pool_environment(
            dev_stack,
            broker_url=broker.settings.broker_url.get_secret_value(),
            instance_dsn=database_dsn(admin, instance_db),
            catalog_dsn=database_dsn(admin, catalog_db),
            store=store,
        )
        environment["REELFLOW_X264_PRESET"] = "ultrafast"
        with worker_pool(directory / "hosts", environment, WORKERS) as pool:
            yield MediaPool(pool, broker, catalog, store)


@pytest.fixture
def site(media_pool: MediaPool) -> MediaPool:
    """The module's pool with its broker running and two workers taking steps."""
    if media_pool.broker.pid() is None:
        media_pool.broker.launch()
        media_pool.broker.wait_ready()
    pool = media_pool.pool
    for worker in [worker for worker in pool.workers if not worker.server.running()]:
        pool.kill(worker)
    if len(pool.workers) < WORKERS:
        pool.start_workers(WORKERS - len(pool.workers))
    return media_pool


def test_uploads_become_ready_with_their_steps_on_both_workers(
    site: MediaPool, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", **SHORT_CLIP)
    videos = [site.upload(clip) for _ in range(4)]

    for video_id in videos:
        assert site.settled(video_id).encoding_status == EncodingStatus.READY
        site.assert_published_once(video_id)

    ran_on = set()
    for video_id in videos:
        [run] = site.runs(video_id)
        assert run.status == DagsterRunStatus.SUCCESS
        executions = site.pool.step_runs(run.run_id)
        assert sorted(e.step for e in executions) == sorted(MEDIA_STEPS)
        assert all(e.succeeded and e.worker is not None for e in executions)
        ran_on |= {e.worker.split("@")[0] for e in executions if e.worker}
    # Each step ran on a worker of the pool, and each worker took some.
    assert ran_on == {worker.node for worker in site.pool.workers}


def test_a_failed_blocking_check_fails_the_video_with_its_description(
    site: MediaPool, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "noise.mp4", pattern=NOISE, **SHORT_CLIP)
    video_id = site.upload(clip)

    video = site.settled(video_id)
    assert video.encoding_status == EncodingStatus.FAILED
    [run] = site.runs(video_id)
    checks = [
        record.dagster_event.asset_check_evaluation_data
        for record in site.pool.instance().all_logs(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
        )
        if record.dagster_event
    ]
    [failed] = [check for check in checks if not check.passed]
    assert failed.check_name == "renditions_quality" and "SSIM" in (failed.description or "")
    assert video.failure_reason == f"renditions_quality: {failed.description}"
    # Failed by its step: final, no retry of the run.
    assert run.status == DagsterRunStatus.FAILURE
    assert run.tags["dagster/failure_reason"] == "STEP_FAILURE"
    assert run.tags["dagster/will_retry"] == "false"
    assert site.store.list(f"videos/{video_id}/") == []


def test_a_lost_worker_host_hands_its_encode_to_the_other_worker(
    site: MediaPool, tmp_path: Path
) -> None:
    video_id = site.upload(make_clip(tmp_path / "long.mp4", **LONG_CLIP))
    run_id, encoding = site.running_step(video_id, "renditions")
    assert encoding.worker is not None
    lost = site.pool.worker_of(encoding.worker)
    assert lost is not None
    # Caught while its ffmpeg encodes the ladder (the DASH muxer's process).
    site.wait_for(
        lambda: any("dash" in p.cmdline() for p in group_members(lost.server.pid)) or None,
        "the encode to start",
        poll_s=ENCODE_POLL_S,
    )
    site.pool.kill(lost)

    assert site.settled(video_id).encoding_status == EncodingStatus.READY
    site.assert_published_once(video_id)
    [run] = site.runs(video_id)
    assert run.run_id == run_id and run.status == DagsterRunStatus.SUCCESS
    encodes = [e for e in site.pool.step_runs(run_id) if e.step == "renditions"]
    assert len(encodes) == 2
    first, second = encodes
    assert first.worker == encoding.worker and first.ended is None
    assert second.succeeded and second.worker is not None
    assert second.worker.split("@")[0] != lost.node


def test_a_worker_whose_main_process_dies_takes_its_pool_processes_with_it(
    site: MediaPool,
) -> None:
    [worker] = site.pool.start_workers(1, "--concurrency", "2")
    assert len(psutil.Process(worker.server.pid).children()) == 2

    os.kill(worker.server.pid, signal.SIGKILL)
    worker.server.process.wait()
    site.pool.workers.remove(worker)

    try:
        # Else they would go on with steps that the broker hands to other workers.
        site.wait_for(
            lambda: not group_members(worker.server.pid) or None,
            f"the pool processes of {node_of(worker.server)} to exit",
            timeout_s=30,
        )
    finally:
        for process in group_members(worker.server.pid):
            process.kill()


def test_a_broker_restart_during_a_run_ends_ready(site: MediaPool, tmp_path: Path) -> None:
    video_id = site.upload(make_clip(tmp_path / "long.mp4", **LONG_CLIP))
    site.running_step(video_id, "renditions")

    site.broker.stop()
    site.broker.launch()
    site.broker.wait_ready()

    assert site.settled(video_id).encoding_status == EncodingStatus.READY
    site.assert_published_once(video_id)
    runs = site.runs(video_id)
    assert runs[-1].status == DagsterRunStatus.SUCCESS
    instance = site.pool.instance()
    for failed, retry in zip(runs, runs[1:], strict=False):
        # The run that lost the broker failed as a whole, saying so, and was run again.
        assert failed.status == DagsterRunStatus.FAILURE
        assert failed.tags["dagster/failure_reason"] == "RUN_EXCEPTION"
        assert failed.tags["dagster/will_retry"] == "true"
        assert retry.tags["dagster/parent_run_id"] == failed.run_id
        [failure] = [
            record.dagster_event
            for record in instance.all_logs(failed.run_id, of_type=DagsterEventType.RUN_FAILURE)
            if record.dagster_event
        ]
        reason = failure_reason(instance, failed.run_id, failure)
        assert reason.startswith("the run failed: ") and "connection" in reason.lower(), reason
        # No step of it started once it had ended: a step the broker delivered again is skipped.
        record = instance.get_run_record_by_id(failed.run_id)
        assert record is not None and record.end_time is not None
        assert all(
            e.started is None or e.started.timestamp() <= record.end_time
            for e in site.pool.step_runs(failed.run_id)
        )
