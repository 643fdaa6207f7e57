"""`reelflow worker` processes fed by the dev stack's RabbitMQ, and the steps of a run on them.

Each worker, like the process that launches the run, stands for a host of its own: its own
working directory, DAGSTER_HOME, state and temporary directories. The run lives in a Dagster
instance stored in a new PostgreSQL database, step outputs and compute logs in a new S3 bucket,
so a step gets nothing through a disk.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance
from pydantic import SecretStr

from assets.queues import HEAVY, LIGHT
from devstack import pool
from devstack.pool import Host, consumed_queues, node_of
from devstack.processes import Server
from devstack.rabbitmq import RabbitMQ
from pipelines.executors import worker_app
from reelflow.settings import PROJECT_ROOT, Settings
from storage.objects import S3ObjectStore

RUN_TIMEOUT_S = 600.0


@pytest.fixture
def broker(dev_stack: Settings) -> Iterator[Settings]:
    """The dev stack's settings on a virtual host of the broker of their own."""
    with pool.broker_vhost(RabbitMQ(dev_stack)) as url:
        yield dev_stack.model_copy(update={"broker_url": SecretStr(url)})


@pytest.fixture
def bucket(dev_stack: Settings) -> Iterator[S3ObjectStore]:
    with pool.bucket(dev_stack) as store:
        yield store


@pytest.fixture
def pool_environment(
    dev_stack: Settings,
    broker: Settings,
    empty_database_dsn: str,
    catalog_dsn: str,
    bucket: S3ObjectStore,
) -> dict[str, str]:
    """What every host of the pool sets: the instance's database, the object store, the broker."""
    return pool.pool_environment(
        dev_stack,
        broker_url=broker.broker_url.get_secret_value(),
        instance_dsn=empty_database_dsn,
        catalog_dsn=catalog_dsn,
        store=bucket,
    )


@pytest.fixture
def queue_workers(
    broker: Settings, pool_environment: dict[str, str], tmp_path: Path
) -> Iterator[dict[str, tuple[Host, Server]]]:
    """A worker for each queue, each on a host of its own, taking steps once this returns."""
    started: dict[str, tuple[Host, Server]] = {}
    try:
        for queue in (HEAVY, LIGHT):
            host = Host.new(tmp_path, f"worker-{queue}", pool_environment)
            started[queue] = (host, host.start_worker("--queue", queue))
        workers = [worker for _, worker in started.values()]
        url = broker.broker_url.get_secret_value()
        assert consumed_queues(url, workers) == [{HEAVY}, {LIGHT}]
        yield started
    finally:
        for _, worker in started.values():
            worker.stop()


def test_a_worker_takes_both_queues_by_default(broker: Settings, tmp_path: Path) -> None:
    url = broker.broker_url.get_secret_value()
    host = Host.new(tmp_path, "worker", {"REELFLOW_BROKER_URL": url})
    with host.start_worker("--concurrency", "2") as worker:
        assert consumed_queues(url, [worker]) == [{HEAVY, LIGHT}]
        [stats] = (worker_app(broker).control.inspect(timeout=5.0).stats() or {}).values()
        assert stats["pool"]["max-concurrency"] == 2


def test_steps_run_on_the_worker_of_their_queue(
    queue_workers: dict[str, tuple[Host, Server]],
    pool_environment: dict[str, str],
    bucket: S3ObjectStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launcher = Host.new(tmp_path, "launcher", pool_environment)
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", launcher.dagster_home / "dagster.yaml")
    launched = subprocess.run(
        [pool.program("dagster"), "job", "execute"]
        + ["-m", "tests.integration.pipelines.worker_probe", "-j", "worker_probe"]
        + ["--working-directory", str(PROJECT_ROOT)],
        cwd=launcher.root,
        env=launcher.env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]

    for name, value in pool_environment.items():
        monkeypatch.setenv(name, value)
    with DagsterInstance.from_config(str(launcher.dagster_home)) as instance:
        [run] = instance.get_runs()
        events = [entry.dagster_event for entry in instance.all_logs(run.run_id)]
    ran_on = {
        event.step_key: event.event_specific_data.metadata["Celery worker"].value
        for event in events
        if event is not None
        and event.event_type == DagsterEventType.ENGINE_EVENT
        and "Celery worker" in event.event_specific_data.metadata
    }
    recorded = {
        event.step_key: {k: v.value for k, v in event.event_specific_data.metadata.items()}
        for event in events
        if event is not None and event.event_type == DagsterEventType.STEP_OUTPUT
    }
    assert ran_on.keys() == recorded.keys() == {"numbers", "total"}
    for step, queue in (("numbers", HEAVY), ("total", LIGHT)):
        host, worker = queue_workers[queue]
        assert ran_on[step].startswith(f"{node_of(worker)}@")
        assert recorded[step]["worker pid"] == worker.pid != recorded[step]["pid"]
        assert recorded[step]["cwd"] == str(host.root)
        assert recorded[step]["DAGSTER_HOME"] == str(host.dagster_home)

    # The light step summed what the heavy one made on the other host, through the bucket, where
    # each worker also left its step's logs.
    assert pickle.loads(bucket.get_bytes(f"steps/storage/{run.run_id}/total/result")) == 45
    logs = bucket.list(f"dagster/compute-logs/storage/{run.run_id}/compute_logs/")
    assert len([key for key in logs if key.endswith(".out")]) == 2
    # Nor did any process keep the run or its outputs on its own disk.
    for host in (launcher, *(host for host, _ in queue_workers.values())):
        assert [p.name for p in host.root.glob("state/**/*")] == []
        assert [p.name for p in host.dagster_home.rglob("*")] == (
            ["dagster.yaml"] if host is launcher else []
        )
