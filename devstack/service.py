"""One server of the dev stack: its directory, pid file and log; start, health check, stop.

Each service lives in its own directory under the project state dir, with a pid file that names
the process it started (pid and kernel start time, so a recycled pid is never signalled), a log
and its data. Only loopback addresses are bound.
"""

from __future__ import annotations

import os
import shutil
import signal
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from devstack.network import HOST, ephemeral_ports, port_bindable, port_open
from devstack.processes import Server, ServerError, log_tail
from reelflow.settings import Settings


class ServiceError(RuntimeError):
    """A service could not be set up or started; the message says why."""


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
    # A service that may only start once this one answers (a node joining a ring).
    starts_after: Service | None = None
    # What asks the server to stop (before SIGKILL, should it not).
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def host(self) -> str:
        """The loopback address it listens on."""
        return HOST

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

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def server(self) -> Server | None:
        """The process this service started, if it still runs."""
        return Server.from_pid_file(self.name, self.pid_file, self.log_file, self.endpoint)

    def pid(self) -> int | None:
        """The pid of the process this service started, if it still runs."""
        server = self.server()
        return None if server is None else server.pid

    def status(self) -> Status:
        pid = self.pid()
        return Status(
            self.name, pid, pid is not None and self.is_ready(), self.endpoint, self.log_file
        )

    def launch(self) -> bool:
        """Start the process unless it already runs; True when a process was started."""
        if self.pid() is not None:
            return False
        if port_open(self.port, self.host):
            raise ServiceError(
                f"{self.name}: port {self.host}:{self.port} is taken by a process this dev stack "
                f"did not start; stop it or choose another port in the settings"
            )
        if not port_bindable(self.port, self.host):
            ephemeral = ephemeral_ports()
            raise ServiceError(
                f"{self.name}: port {self.host}:{self.port} is held by another socket"
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
        server = Server.start(
            self.name,
            self.command(),
            log=self.log_file,
            cwd=self.dir,
            env=self.environment(),
            user=self.run_as(),
            endpoint=self.endpoint,
        )
        server.write_pid_file(self.pid_file)
        return True

    def wait_ready(self) -> None:
        """Wait until the service answers, then run its `after_ready` set-up."""
        server = self.server()
        if server is None:
            raise ServerError(f"{self.name} exited during start-up.\n{self.log_tail()}")
        server.wait_ready(self.is_ready, self.start_timeout_s)
        self.after_ready()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the process this service started, and its group; True when one was running."""
        server = self.server()
        if server is not None:
            server.stop(timeout_s, self.stop_signal)
        self.pid_file.unlink(missing_ok=True)
        return server is not None

    def log_tail(self, lines: int = 25) -> str:
        return log_tail(self.log_file, lines)


def java() -> str:
    """The `java` of JAVA_HOME, or the one on the PATH."""
    java_home = os.environ.get("JAVA_HOME")
    found = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not found:
        raise ServiceError("java is not installed; Cassandra and S3Proxy need Java 17")
    return found
