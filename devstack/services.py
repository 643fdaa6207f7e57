"""The local PostgreSQL, Cassandra and S3 servers: start, health-check, stop.

Each service lives in its own directory under the project state dir, with a pid file that names
the process it started (pid and kernel start time, so a recycled pid is never signalled), a log
and its data. Only loopback addresses are bound.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from devstack.jars import bundle_jars
from reelflow.settings import Settings

HOST = "127.0.0.1"
EPHEMERAL_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


class ServiceError(RuntimeError):
    """A service failed to start or stop; the message carries the tail of its log."""


@dataclass(frozen=True)
class Status:
    name: str
    pid: int | None
    ready: bool
    endpoint: str
    log: Path

    @property
    def state(self) -> str:
        if self.pid is None:
            return "stopped"
        return "ready" if self.ready else "starting (not answering yet)"


class Service(ABC):
    """One server process of the dev stack."""

    name: str
    start_timeout_s: float = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def dir(self) -> Path:
        return self.settings.state_dir / self.name

    @property
    def pid_file(self) -> Path:
        return self.dir / "pid"

    @property
    def log_file(self) -> Path:
        return self.dir / f"{self.name}.log"

    @property
    @abstractmethod
    def port(self) -> int: ...

    @property
    @abstractmethod
    def endpoint(self) -> str: ...

    @abstractmethod
    def command(self) -> list[str]: ...

    @abstractmethod
    def is_ready(self) -> bool:
        """True when the service answers its own protocol."""

    def prepare(self) -> None:  # noqa: B027 - an optional hook
        """First-use set-up of the service directory (idempotent)."""

    def after_ready(self) -> None:  # noqa: B027 - an optional hook
        """Set-up that needs the running service (idempotent)."""

    def run_as(self) -> str | None:
        """The system user to run as, or None for the current user."""
        return None

    def pid(self) -> int | None:
        """The pid of the process this service started, if it still runs."""
        try:
            pid_text, started = self.pid_file.read_text().split()
        except (FileNotFoundError, ValueError):
            return None
        pid = int(pid_text)
        if _process_start_time(pid) != started:
            return None
        return pid

    def status(self) -> Status:
        pid = self.pid()
        return Status(
            self.name, pid, pid is not None and self.is_ready(), self.endpoint, self.log_file
        )

    def launch(self) -> bool:
        """Start the process unless it already runs; True when a process was started."""
        if self.pid() is not None:
            return False
        if _port_open(self.port):
            raise ServiceError(
                f"{self.name}: port {HOST}:{self.port} is taken by a process this dev stack did "
                f"not start; stop it or choose another port in the settings"
            )
        if not _port_bindable(self.port):
            ephemeral = ephemeral_ports()
            raise ServiceError(
                f"{self.name}: port {HOST}:{self.port} is held by another socket"
                + (
                    f"; it lies in the kernel's range for outgoing connections "
                    f"({ephemeral.start}-{ephemeral.stop - 1}), where any client can take it: "
                    f"choose a port outside that range in the settings"
                    if self.port in ephemeral
                    else ""
                )
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        user = self.run_as()
        with self.log_file.open("ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                user=user,
                start_new_session=True,
                env=self.environment(),
            )
        self.pid_file.write_text(f"{process.pid} {_process_start_time(process.pid)}\n")
        return True

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise ServiceError(f"{self.name} exited during start-up.\n{self.log_tail()}")
            if self.is_ready():
                self.after_ready()
                return
            time.sleep(0.5)
        raise ServiceError(
            f"{self.name} did not answer on {self.endpoint} within {self.start_timeout_s:.0f} s."
            f"\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the process this service started; True when one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
            while self.pid() is not None:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return f"(no log at {self.log_file})"
        return f"last lines of {self.log_file}:\n" + "\n".join(text[-lines:])


class Postgres(Service):
    """A PostgreSQL 15 cluster, run as the `postgres` system user when started by root."""

    name = "postgres"

    @property
    def dsn(self) -> dict[str, str]:
        parts = urlsplit(self.settings.postgres_dsn)
        return {
            "user": parts.username or "reelflow",
            "password": parts.password or "",
            "dbname": parts.path.lstrip("/") or "reelflow",
        }

    @property
    def port(self) -> int:
        return urlsplit(self.settings.postgres_dsn).port or 5432

    @property
    def endpoint(self) -> str:
        return f"postgresql://{HOST}:{self.port}/{self.dsn['dbname']}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def run_as(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def bin(self, program: str) -> str:
        return str(_postgres_bin_dir() / program)

    def prepare(self) -> None:
        user = self.run_as()
        owned = [self.dir]
        if (self.data_dir / "PG_VERSION").exists():
            _chown(owned, user)
            return
        password_file = self.dir / "initdb-password"
        password_file.write_text(self.dsn["password"] + "\n")
        _chown([*owned, password_file], user)
        os.chmod(self.dir, 0o700)
        try:
            result = subprocess.run(
                [
                    self.bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.dsn["user"],
                    f"--pwfile={password_file}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                user=user,
                cwd=self.dir,
                check=False,
            )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServiceError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        return [
            self.bin("postgres"),
            "-D",
            str(self.data_dir),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.dir}",
            "-c",
            "max_connections=200",
            "-c",
            "fsync=off" if self.settings.deployment == "local" else "fsync=on",
        ]

    def is_ready(self) -> bool:
        result = subprocess.run(
            [self.bin("pg_isready"), "-h", HOST, "-p", str(self.port), "-q"],
            check=False,
        )
        return result.returncode == 0

    def after_ready(self) -> None:
        import psycopg

        dsn = self.dsn
        with psycopg.connect(
            host=HOST,
            port=self.port,
            user=dsn["user"],
            password=dsn["password"],
            dbname="postgres",
            autocommit=True,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dsn["dbname"],)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{dsn["dbname"]}"')


class Cassandra(Service):
    """A single Cassandra 5.0 node from the Maven Central jars, small heap, fast start."""

    name = "cassandra"
    start_timeout_s = 120.0

    @property
    def port(self) -> int:
        return self.settings.cassandra_port

    @property
    def storage_port(self) -> int:
        return self.port + 1

    @property
    def endpoint(self) -> str:
        return f"cql://{HOST}:{self.port}"

    def prepare(self) -> None:
        conf = self.dir / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "cassandra.yaml").write_text(
            CASSANDRA_YAML.format(dir=self.dir, port=self.port, storage_port=self.storage_port)
        )
        (conf / "logback.xml").write_text(LOGBACK_XML)

    def command(self) -> list[str]:
        jars = bundle_jars(self.settings.jar_dir, "cassandra")
        jamm = next(j for j in jars if j.name.startswith("jamm-"))
        conf = self.dir / "conf"
        return [
            _java(),
            *CASSANDRA_JVM_FLAGS,
            f"-javaagent:{jamm}",
            f"-Dcassandra.config={(conf / 'cassandra.yaml').as_uri()}",
            f"-Dlogback.configurationFile={conf / 'logback.xml'}",
            f"-Dcassandra.storagedir={self.dir / 'data'}",
            f"-Dcassandra.logdir={self.dir / 'logs'}",
            "-cp",
            os.pathsep.join([str(conf), *map(str, jars)]),
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def is_ready(self) -> bool:
        if not _port_open(self.port):
            return False
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import RoundRobinPolicy

        cluster = Cluster(
            [HOST],
            port=self.port,
            execution_profiles={
                EXEC_PROFILE_DEFAULT: ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
            },
            connect_timeout=2,
            control_connection_timeout=2,
        )
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
            return row is not None
        except Exception:  # noqa: BLE001 - any failure means "not answering yet"
            return False
        finally:
            cluster.shutdown()


class S3Proxy(Service):
    """S3Proxy with its filesystem backend: the S3-compatible server of the dev stack."""

    name = "s3proxy"

    @property
    def port(self) -> int:
        return urlsplit(self.settings.s3_endpoint_url or f"http://{HOST}:19000").port or 80

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def prepare(self) -> None:
        # A bucket of the filesystem backend is a folder under its base directory.
        (self.dir / "data" / self.settings.s3_bucket).mkdir(parents=True, exist_ok=True)
        (self.dir / "s3proxy.conf").write_text(
            "\n".join(
                [
                    f"s3proxy.endpoint={self.endpoint}",
                    "s3proxy.authorization=aws-v2-or-v4",
                    f"s3proxy.identity={self.settings.s3_access_key_id}",
                    "s3proxy.credential=" + self.settings.s3_secret_access_key.get_secret_value(),
                    "s3proxy.ignore-unknown-headers=true",
                    "s3proxy.cors-allow-all=true",
                    "jclouds.provider=filesystem",
                    f"jclouds.filesystem.basedir={self.dir / 'data'}",
                    "",
                ]
            )
        )

    def command(self) -> list[str]:
        jars = bundle_jars(self.settings.jar_dir, "s3proxy")
        return [
            _java(),
            "-Xmx256m",
            "-cp",
            os.pathsep.join(map(str, jars)),
            "org.gaul.s3proxy.Main",
            "--properties",
            str(self.dir / "s3proxy.conf"),
        ]

    def is_ready(self) -> bool:
        return _port_open(self.port)


def services(settings: Settings) -> list[Service]:
    from devstack.stripe import StripeMock  # devstack.stripe imports this module

    stack: list[Service] = [Postgres(settings), Cassandra(settings), S3Proxy(settings)]
    if settings.stripe_api_base:  # unset in prod: real Stripe, nothing to run
        stack.append(StripeMock(settings))
    return stack


def up(settings: Settings) -> list[Status]:
    """Start every service that is not running, then wait until each answers."""
    stack = services(settings)
    for service in stack:
        service.launch()
    errors = []
    for service in stack:
        try:
            service.wait_ready()
        except ServiceError as exc:
            errors.append(str(exc))
    if errors:
        raise ServiceError("\n\n".join(errors))
    return [service.status() for service in stack]


def down(settings: Settings) -> list[str]:
    """Stop what this dev stack started; the names of the services that were running."""
    return [service.name for service in reversed(services(settings)) if service.stop()]


def status(settings: Settings) -> list[Status]:
    return [service.status() for service in services(settings)]


def _process_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def _chown(paths: list[Path], user: str | None) -> None:
    if user is None:
        return
    account = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)


def ephemeral_ports() -> range:
    """The local ports the kernel gives outgoing connections; a server port there can be taken."""
    try:
        low, high = map(int, EPHEMERAL_PORT_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _port_bindable(port: int) -> bool:
    """Whether a server could listen on the port now (with SO_REUSEADDR, as servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        raise ServiceError("java is not installed; Cassandra and S3Proxy need Java 17")
    return java


def _postgres_bin_dir() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "postgres").exists():
            return candidate
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise ServiceError("PostgreSQL server binaries not found (install postgresql-15)")


CASSANDRA_JVM_FLAGS = [
    "-Xms512m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:ParallelGCThreads=2",
    "-XX:ConcGCThreads=1",
    "-Djava.net.preferIPv4Stack=true",
    "-Dcassandra-foreground=yes",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.ring_delay_ms=1",
    "-Dcassandra.initial_token=0",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.unsafesystem=true",
    "-Dcassandra.system_distributed.default_rf=1",
    "-Dcassandra.system_traces.default_rf=1",
    "-Dcassandra.available_processors=2",
    "-Djdk.attach.allowAttachSelf=true",
    "-Dio.netty.tryReflectionSetAccessible=true",
    *(
        f"--add-exports={module}=ALL-UNNAMED"
        for module in (
            "java.base/jdk.internal.misc",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "java.base/java.lang.ref",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
            "java.management/com.sun.jmx.remote.security",
        )
    ),
    *(
        f"--add-opens={module}=ALL-UNNAMED"
        for module in (
            "java.base/java.lang.module",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.util.jar",
            "java.base/sun.nio.ch",
            "java.base/java.io",
            "java.base/java.lang.reflect",
            "java.base/java.lang",
            "java.base/java.util",
            "java.base/java.nio",
            "jdk.management/com.sun.management.internal",
            "jdk.compiler/com.sun.tools.javac",
        )
    ),
]

CASSANDRA_YAML = """\
cluster_name: reelflow-dev
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage_port}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
native_transport_port: {port}
storage_port: {storage_port}
start_native_transport: true
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories:
  - {dir}/data/data
commitlog_directory: {dir}/data/commitlog
saved_caches_directory: {dir}/data/saved_caches
hints_directory: {dir}/data/hints
cdc_raw_directory: {dir}/data/cdc_raw
cdc_enabled: false
auto_snapshot: false
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 4
concurrent_materialized_view_writes: 2
compaction_throughput: 0MiB/s
"""

LOGBACK_XML = """\
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %logger{20} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""
