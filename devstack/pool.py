"""A media worker pool on this machine, each of its processes standing for a host of its own.

What a distributed deployment runs, started as separate processes under the supervisor
(`devstack.processes.Server`) and stopped by pid: a Dagster daemon, whose run workers send the
steps of media runs through RabbitMQ, and `reelflow worker` processes that take them. Each
process gets a `Host`: a directory of its own for its working directory, DAGSTER_HOME, state and
temporary files. No two hosts share a path; they meet only through the services every host
names: the broker (a virtual host of its own), the Dagster instance's PostgreSQL database, the
catalog database and an S3 bucket. The tests of the pool and `bench/scale.py` use it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
import yaml
from psycopg import sql
from pydantic import SecretStr

from devstack.network import HOST
from devstack.processes import Server, group_members
from devstack.rabbitmq import RabbitMQ
from reelflow import connect
from reelflow.settings import DAGSTER_POSTGRES_SCHEME, PROJECT_ROOT, Settings
from storage.objects import S3ObjectStore

if TYPE_CHECKING:
    from dagster import DagsterInstance

WORKSPACE = PROJECT_ROOT / "workspace.yaml"
# The instance configuration of a distributed deployment: storage in PostgreSQL, logs in S3.
DISTRIBUTED_INSTANCE = PROJECT_ROOT / "deploy" / "dagster.yaml"
START_TIMEOUT_S = 180.0
POLL_S = 0.2
# The daemons the way from an upload to a published video goes through.
FLOW_DAEMONS = ("SENSOR", "QUEUED_RUN_COORDINATOR")
# The metadata key naming the worker on dagster-celery's "Executing steps" engine event.
WORKER_METADATA = "Celery worker"


def program(name: str) -> str:
    """A program of this virtualenv."""
    return str(Path(sys.executable).with_name(name))


@dataclass
class Host:
    """A directory standing for one machine of the pool, and the environment of its processes."""

    root: Path
    env: dict[str, str]

    @classmethod
    def new(cls, directory: Path, name: str, environment: Mapping[str, str]) -> Host:
        """A new host `directory/name` whose processes see `environment` on top of this one's."""
        root = directory / name
        for sub in ("dagster-home", "state", "tmp"):
            (root / sub).mkdir(parents=True)
        env = os.environ | dict(environment)
        env |= {
            "DAGSTER_HOME": str(root / "dagster-home"),
            "REELFLOW_STATE_DIR": str(root / "state"),
            "TMPDIR": str(root / "tmp"),
            # The code is installed on every host, with the modules the tests define jobs in.
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        return cls(root, env)

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster-home"

    def start(self, name: str, *args: str) -> Server:
        """The virtualenv's program `name` with `args`, run on this host."""
        return Server.start(
            f"{name} on {self.root.name}",
            [program(name), *args],
            log=self.root / f"{name}.log",
            cwd=self.root,
            env=self.env,
        )

    def start_worker(self, *args: str) -> Server:
        """`reelflow worker ARGS` on this host."""
        return self.start("reelflow", "worker", *args)


def node_of(worker: Server) -> str:
    """The Celery node name of a `reelflow worker` process, without its host (the name
    `pipelines.executors.run_worker` gives it)."""
    return f"reelflow-{worker.pid}"


def consumed_queues(
    broker_url: str, workers: Sequence[Server], timeout_s: float = START_TIMEOUT_S
) -> list[set[str]]:
    """The queues each worker consumes, once every one of them consumes some."""
    from celery import Celery

    deadline = time.monotonic() + timeout_s
    # No pool: a connection kept from before a restart of the broker would fail the question.
    with Celery(broker=broker_url, broker_pool_limit=0) as app:
        inspect = app.control.inspect(timeout=1.0)
        while True:
            consumed = {
                node.split("@")[0]: {queue["name"] for queue in queues}
                for node, queues in (inspect.active_queues() or {}).items()
            }
            if all(node_of(worker) in consumed for worker in workers):
                return [consumed[node_of(worker)] for worker in workers]
            for worker in workers:
                if not worker.running():
                    raise RuntimeError(f"a worker exited\n{worker.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError("\n".join(worker.log_tail() for worker in workers))


def kill_host(server: Server) -> None:
    """SIGKILL to the server's whole process group at once, as when its host is lost; returns
    once none of its processes is left."""
    os.killpg(server.pid, signal.SIGKILL)
    while members := group_members(server.pid):
        psutil.wait_procs(members, timeout=1.0)
    # Reaped here, so the server no longer counts as running.
    server.process.wait()


def database_dsn(dsn: str, database: str) -> str:
    """`dsn` pointing at another database on the same server."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@contextmanager
def database(admin_dsn: str, template: str | None = None) -> Iterator[str]:
    """A new database (`reelflow_test_<hex>`, a copy of `template` if given) on the server of
    `admin_dsn`, dropped afterwards; its name."""
    name = f"reelflow_test_{secrets.token_hex(6)}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(statement)
    try:
        yield name
    finally:
        # FORCE: a connection left open (a killed process's) must not keep the database alive.
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def broker_vhost(rabbitmq: RabbitMQ) -> Iterator[str]:
    """A new virtual host of the node for its user, deleted afterwards; the broker URL naming
    it. Workers on other virtual hosts of the node never see its steps, nor its workers theirs."""
    vhost = f"reelflow-test-{secrets.token_hex(6)}"
    rabbitmq.ctl("add_vhost", vhost)
    try:
        rabbitmq.ctl("set_permissions", "--vhost", vhost, rabbitmq.broker.user, ".*", ".*", ".*")
        url = urlsplit(rabbitmq.settings.broker_url.get_secret_value())
        yield urlunsplit(url._replace(path=f"/{vhost}"))
    finally:
        rabbitmq.ctl("delete_vhost", vhost)


@contextmanager
def own_broker(directory: Path, port: int) -> Iterator[RabbitMQ]:
    """A RabbitMQ node of its own under `directory`, on `port` (and the two after it), started;
    stopped and removed afterwards. Unlike the dev stack's broker, it may be stopped at will."""
    node = RabbitMQ(
        Settings(
            state_dir=directory,
            broker_url=SecretStr(f"amqp://pool:pool-{secrets.token_hex(8)}@127.0.0.1:{port}//"),
        )
    )
    try:
        node.launch()
        node.wait_ready()
        yield node
    finally:
        node.stop()
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def bucket(settings: Settings) -> Iterator[S3ObjectStore]:
    """A new bucket on the settings' S3 server, deleted with its objects afterwards."""
    store = connect.s3_store(settings, f"reelflow-test-{secrets.token_hex(6)}")
    store.ensure_bucket()
    try:
        yield store
    finally:
        store.delete_bucket()


def pool_environment(
    settings: Settings,
    *,
    broker_url: str,
    instance_dsn: str,
    catalog_dsn: str,
    store: S3ObjectStore,
) -> dict[str, str]:
    """What every host of a pool sets: the celery executor, the broker, the instance's and the
    catalog's databases (never the dev stack's own catalog, whose uploads the pool's sensor
    would process), the object store and its credentials (for the compute logs too)."""
    return {
        "REELFLOW_MEDIA_EXECUTOR": "celery",
        "REELFLOW_BROKER_URL": broker_url,
        "REELFLOW_DAGSTER_POSTGRES_URL": instance_dsn.replace(
            "postgresql://", DAGSTER_POSTGRES_SCHEME, 1
        ),
        "REELFLOW_POSTGRES_DSN": catalog_dsn,
        "REELFLOW_OBJECT_STORE": "s3",
        "REELFLOW_S3_BUCKET": store.bucket,
        "REELFLOW_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
        "REELFLOW_S3_REGION": settings.s3_region,
        "AWS_ACCESS_KEY_ID": settings.s3_access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
        "AWS_DEFAULT_REGION": settings.s3_region,
    }


@dataclass
class Worker:
    """A `reelflow worker` process and the host it runs on."""

    host: Host
    server: Server

    @property
    def node(self) -> str:
        return node_of(self.server)


@dataclass
class StepRun:
    """One execution of a step, as a run's event log tells it: where and when."""

    step: str
    worker: str | None
    started: datetime | None = None
    ended: datetime | None = None
    succeeded: bool = False


@dataclass
class WorkerPool:
    """A Dagster daemon and workers on hosts of their own under `directory`, all with
    `environment` (see `pool_environment`)."""

    directory: Path
    environment: dict[str, str]
    daemon: Server | None = None
    webserver: Server | None = None
    workers: list[Worker] = field(default_factory=list)
    _hosts: int = 0
    _instance: DagsterInstance | None = None

    @property
    def broker_url(self) -> str:
        return self.environment["REELFLOW_BROKER_URL"]

    def host(self, name: str) -> Host:
        """A new host of the pool, its name made unique."""
        self._hosts += 1
        return Host.new(self.directory, f"{name}-{self._hosts}", self.environment)

    def dagster_host(self, name: str) -> Host:
        """A new host for a Dagster server, with the distributed instance configuration."""
        host = self.host(name)
        config = yaml.safe_load(DISTRIBUTED_INSTANCE.read_text())
        # The pool's hosts are processes, not pods: run workers start as local processes
        # (Dagster's default launcher) instead of Kubernetes Jobs.
        config.pop("run_launcher")
        (host.dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
        # Opened here first, the instance creates its tables before the servers' threads race
        # to create them.
        self.instance()
        return host

    def start_daemon(self) -> Server:
        """The Dagster daemon, once its sensors and run queue are running."""
        host = self.dagster_host("daemon")
        self.daemon = host.start("dagster-daemon", "run", "-w", str(WORKSPACE))
        self.daemon.wait_ready(self._daemons_beat, START_TIMEOUT_S)
        return self.daemon

    def start_webserver(self, port: int) -> Server:
        """The Dagster webserver on `http://127.0.0.1:PORT`, as the API's hand-off of completed
        uploads calls it; whoever asks it waits for its code location to load."""
        host = self.dagster_host("webserver")
        args = ["-h", HOST, "-p", str(port), "-w", str(WORKSPACE)]
        self.webserver = host.start("dagster-webserver", *args)
        return self.webserver

    def _daemons_beat(self) -> bool:
        beating = {beat.daemon_type for beat in self.instance().get_daemon_heartbeats().values()}
        return beating.issuperset(FLOW_DAEMONS)

    def start_workers(self, count: int, *args: str) -> list[Worker]:
        """`count` workers (`reelflow worker ARGS`), each on a new host, once all take steps."""
        started = []
        for _ in range(count):
            host = self.host("worker")
            started.append(Worker(host, host.start_worker(*args)))
            self.workers.append(started[-1])
        consumed_queues(self.broker_url, [worker.server for worker in started])
        return started

    def kill(self, worker: Worker) -> None:
        """Lose a worker's host: SIGKILL to all its processes at once."""
        kill_host(worker.server)
        self.workers.remove(worker)

    def worker_of(self, node: str) -> Worker | None:
        """The running worker with this Celery node name (with or without its host)."""
        name = node.split("@")[0]
        return next((worker for worker in self.workers if worker.node == name), None)

    def instance(self) -> DagsterInstance:
        """The pool's Dagster instance, read from this process: runs and their event logs."""
        if self._instance is None:
            from dagster import DagsterInstance
            from dagster._core.instance.ref import InstanceRef

            config: dict[str, Any] = yaml.safe_load(DISTRIBUTED_INSTANCE.read_text())
            # The variables the file names are the hosts', not this process's; compute logs are
            # read from S3 by whoever needs them.
            config.pop("compute_logs")
            url = self.environment["REELFLOW_DAGSTER_POSTGRES_URL"]
            config["storage"] = {"postgres": {"postgres_url": url}}
            home = self.directory / "observer"
            home.mkdir(parents=True, exist_ok=True)
            (home / "dagster.yaml").write_text(yaml.safe_dump(config))
            self._instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
        return self._instance

    def step_runs(self, run_id: str) -> list[StepRun]:
        """Every execution of a step of the run, in order: the worker that ran it (None in the
        run's own process), when it started and ended, and whether it succeeded."""
        from dagster import DagsterEventType

        runs: list[StepRun] = []
        current: dict[str, StepRun] = {}
        for record in self.instance().all_logs(run_id):
            event = record.dagster_event
            if event is None or event.step_key is None:
                continue
            at = datetime.fromtimestamp(record.timestamp, UTC)
            step = event.step_key
            if event.event_type == DagsterEventType.ENGINE_EVENT:
                metadata = event.event_specific_data.metadata  # type: ignore[union-attr]
                if WORKER_METADATA in metadata:
                    current[step] = StepRun(step, str(metadata[WORKER_METADATA].value))
                    runs.append(current[step])
            elif event.event_type == DagsterEventType.STEP_START:
                if step not in current or current[step].started is not None:
                    current[step] = StepRun(step, None)
                    runs.append(current[step])
                current[step].started = at
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                current[step].ended = at
                current[step].succeeded = event.event_type == DagsterEventType.STEP_SUCCESS
        return runs

    def stop(self) -> None:
        """Stop the workers and the Dagster servers, each by pid with its process group, side by
        side (a worker finishes its current step first)."""
        servers = [worker.server for worker in self.workers]
        servers += [server for server in (self.daemon, self.webserver) if server is not None]
        with ThreadPoolExecutor(max_workers=len(servers) or 1) as stopping:
            list(stopping.map(Server.stop, servers))
        self.workers.clear()
        self.daemon = self.webserver = None
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None


@contextmanager
def worker_pool(
    directory: Path, environment: Mapping[str, str], workers: int = 2, *worker_args: str
) -> Iterator[WorkerPool]:
    """A daemon and `workers` workers under `directory`, running; stopped afterwards."""
    pool = WorkerPool(directory, dict(environment))
    try:
        pool.start_daemon()
        if workers:
            pool.start_workers(workers, *worker_args)
        yield pool
    finally:
        pool.stop()
