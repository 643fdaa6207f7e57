"""`reelflow worker` processes fed by the dev stack's RabbitMQ, and the steps of a run on them.

Each worker, like the process that launches the run, stands for a host of its own: its own
working directory, DAGSTER_HOME, state and temporary directories. The run lives in a Dagster
instance stored in a new PostgreSQL database, step outputs and compute logs in a new S3 bucket,
so a step gets nothing through a disk.
"""

from __future__ import annotations

import os
import pickle
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from dagster import DagsterEventType, DagsterInstance
from pydantic import SecretStr

from assets.queues import HEAVY, LIGHT
from devstack.processes import Server
from devstack.rabbitmq import RabbitMQ
from pipelines.executors import worker_app
from reelflow import connect
from reelflow.settings import DAGSTER_POSTGRES_SCHEME, PROJECT_ROOT, Settings
from storage.objects import S3ObjectStore

WORKER_START_TIMEOUT_S = 180.0
RUN_TIMEOUT_S = 600.0


@dataclass
class Host:
    """A directory standing for one machine of the pool, and the environment of its processes."""

    root: Path
    env: dict[str, str]

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster-home"

    def start_worker(self, *args: str) -> Server:
        """`reelflow worker ARGS` on this host."""
        return Server.start(
            f"worker on {self.root.name}",
            [str(Path(sys.executable).with_name("reelflow")), "worker", *args],
            log=self.root / "worker.log",
            cwd=self.root,
            env=self.env,
        )


def new_host(tmp_path: Path, name: str, environment: dict[str, str]) -> Host:
    root = tmp_path / name
    for sub in ("dagster-home", "state", "tmp"):
        (root / sub).mkdir(parents=True)
    env = os.environ | environment
    env |= {
        "DAGSTER_HOME": str(root / "dagster-home"),
        "REELFLOW_STATE_DIR": str(root / "state"),
        "TMPDIR": str(root / "tmp"),
        # The code is installed on every host; the probe job lives beside this test.
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    return Host(root, env)


def consumed_queues(settings: Settings, workers: list[Server]) -> list[set[str]]:
    """The queues each worker consumes, once every one of them consumes some."""
    inspect = worker_app(settings).control.inspect(timeout=1.0)
    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while True:
        consumed = {
            node.split("@")[0]: {queue["name"] for queue in queues}
            for node, queues in (inspect.active_queues() or {}).items()
        }
        if all(node_of(worker) in consumed for worker in workers):
            return [consumed[node_of(worker)] for worker in workers]
        for worker in workers:
            assert worker.running(), f"a worker exited\n{worker.log_tail()}"
        assert time.monotonic() < deadline, "\n".join(w.log_tail() for w in workers)


def node_of(worker: Server) -> str:
    """The Celery node name of a worker, without its host."""
    return f"reelflow-{worker.pid}"


@pytest.fixture
def broker(dev_stack: Settings) -> Iterator[Settings]:
    """The dev stack's settings on a virtual host of the broker of their own, deleted afterwards:
    workers of other test runs on the same broker never see these steps, nor these workers
    theirs."""
    rabbitmq = RabbitMQ(dev_stack)
    vhost = f"reelflow-test-{secrets.token_hex(6)}"
    rabbitmq.ctl("add_vhost", vhost)
    try:
        rabbitmq.ctl("set_permissions", "--vhost", vhost, rabbitmq.broker.user, ".*", ".*", ".*")
        url = urlsplit(dev_stack.broker_url.get_secret_value())._replace(path=f"/{vhost}")
        yield dev_stack.model_copy(update={"broker_url": SecretStr(urlunsplit(url))})
    finally:
        rabbitmq.ctl("delete_vhost", vhost)


@pytest.fixture
def bucket(dev_stack: Settings) -> Iterator[S3ObjectStore]:
    store = connect.s3_store(dev_stack, f"reelflow-test-{secrets.token_hex(6)}")
    store.ensure_bucket()
    yield store
    store.delete_bucket()


@pytest.fixture
def pool_environment(
    dev_stack: Settings, broker: Settings, empty_database_dsn: str, bucket: S3ObjectStore
) -> dict[str, str]:
    """What every host of the pool sets: the instance's database, the object store, the broker."""
    return {
        "REELFLOW_MEDIA_EXECUTOR": "celery",
        "REELFLOW_BROKER_URL": broker.broker_url.get_secret_value(),
        "REELFLOW_DAGSTER_POSTGRES_URL": empty_database_dsn.replace(
            "postgresql://", DAGSTER_POSTGRES_SCHEME, 1
        ),
        "REELFLOW_S3_BUCKET": bucket.bucket,
        "REELFLOW_S3_ENDPOINT_URL": str(dev_stack.s3_endpoint_url),
        "AWS_ACCESS_KEY_ID": dev_stack.s3_access_key_id,
        "AWS_SECRET_ACCESS_KEY": dev_stack.s3_secret_access_key.get_secret_value(),
        "AWS_DEFAULT_REGION": dev_stack.s3_region,
    }


@pytest.fixture
def queue_workers(
    broker: Settings, pool_environment: dict[str, str], tmp_path: Path
) -> Iterator[dict[str, tuple[Host, Server]]]:
    """A worker for each queue, each on a host of its own, taking steps once this returns."""
    started: dict[str, tuple[Host, Server]] = {}
    try:
        for queue in (HEAVY, LIGHT):
            host = new_host(tmp_path, f"worker-{queue}", pool_environment)
            started[queue] = (host, host.start_worker("--queue", queue))
        workers = [worker for _, worker in started.values()]
        assert consumed_queues(broker, workers) == [{HEAVY}, {LIGHT}]
        yield started
    finally:
        for _, worker in started.values():
            worker.stop()


def test_a_worker_takes_both_queues_by_default(broker: Settings, tmp_path: Path) -> None:
    host = new_host(
        tmp_path, "worker", {"REELFLOW_BROKER_URL": broker.broker_url.get_secret_value()}
    )
    with host.start_worker("--concurrency", "2") as worker:
        assert consumed_queues(broker, [worker]) == [{HEAVY, LIGHT}]
        [stats] = (worker_app(broker).control.inspect(timeout=5.0).stats() or {}).values()
        assert stats["pool"]["max-concurrency"] == 2


def test_steps_run_on_the_worker_of_their_queue(
    queue_workers: dict[str, tuple[Host, Server]],
    pool_environment: dict[str, str],
    bucket: S3ObjectStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launcher = new_host(tmp_path, "launcher", pool_environment)
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", launcher.dagster_home / "dagster.yaml")
    launched = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "job", "execute"]
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
