"""Servers in their own session: started, waited for, found again by pid file, stopped as a group.

A server runs in a new session, so it leads a process group of its own: Ctrl-C in the terminal
that started it reaches the starter only, and whatever the server starts (Dagster's code
servers, PostgreSQL's backends, Spark's executors) stays in its group, to be stopped with it.
A pid file names the process by pid and kernel start time, so that a pid the kernel has given
to another process since is never signalled.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

STOP_TIMEOUT_S = 30.0
# What a server leaves in its group after it exited gets this long to follow before SIGKILL.
LEFTOVER_GRACE_S = 5.0
POLL_S = 0.5
# The unit of the kernel's start time, as /proc/<pid>/stat gives it: clock ticks since boot.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    """A server exited or did not answer during start-up; the message ends with its log tail."""


@dataclass
class Server:
    """A process leading its own process group, writing its output to `log`."""

    name: str
    process: psutil.Process
    log: Path
    endpoint: str = ""

    @classmethod
    def start(
        cls,
        name: str,
        command: Sequence[str],
        *,
        log: Path,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        endpoint: str = "",
    ) -> Server:
        """Start `command` in a new session (as `user`), appending its output to `log`."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            out.write(f"\n--- {started} {shlex.join(command)}\n".encode())
            out.flush()
            process = psutil.Popen(
                list(command),
                cwd=cwd,
                env=None if env is None else dict(env),
                user=user,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, process, log, endpoint)

    @classmethod
    def from_pid_file(
        cls, name: str, pid_file: Path, log: Path, endpoint: str = ""
    ) -> Server | None:
        """The server `pid_file` names, if that very process still runs."""
        try:
            pid, started = map(int, pid_file.read_text().split())
            process = psutil.Process(pid)
            if _start_ticks(process) != started or not _alive(process):
                return None
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess):
            return None
        return cls(name, process, log, endpoint)

    def write_pid_file(self, pid_file: Path) -> None:
        """Record the pid and kernel start time, for `from_pid_file` in any later process."""
        pid_file.write_text(f"{self.pid} {_start_ticks(self.process)}\n")

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def running(self) -> bool:
        """Whether the process still runs (a zombie has exited: it only waits to be reaped)."""
        if isinstance(self.process, psutil.Popen):
            return self.process.poll() is None
        return _alive(self.process)

    def exit_status(self) -> int | None:
        """The exit status of a server this process started, once it exited."""
        if isinstance(self.process, psutil.Popen):
            status: int | None = self.process.poll()
            return status
        return None

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float) -> None:
        """Return once `ready()` holds; ServerError when the server exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if not self.running():
                status = self.exit_status()
                exited = "" if status is None else f" with status {status}"
                raise ServerError(f"{self.name} exited{exited} during start-up.\n{self.log_tail()}")
            if time.monotonic() > deadline:
                where = f" on {self.endpoint}" if self.endpoint else ""
                raise ServerError(
                    f"{self.name} did not answer{where} within {timeout_s:.0f} s."
                    f"\n{self.log_tail()}"
                )
            time.sleep(POLL_S)

    def stop(
        self, timeout_s: float = STOP_TIMEOUT_S, first: signal.Signals = signal.SIGTERM
    ) -> bool:
        """`first` (SIGTERM) to the server, then SIGTERM to what it left in its group; SIGKILL
        what outlasts that.

        The server alone is asked first, so that it stops its own children in its own order
        (PostgreSQL's backends, Dagster's code servers); they are signalled only if they
        outlive it. A server still running after `timeout_s` is killed with its whole group.
        Returns once no process of the group is left; True when the server was running.
        """
        was_running = self.running()
        deadline = time.monotonic() + timeout_s
        if was_running:
            _signal(self.process, first)
            psutil.wait_procs([self.process], timeout=timeout_s)
        if not self.running():
            leftovers = self._group()
            for process in leftovers:
                _signal(process, signal.SIGTERM)
            grace = max(LEFTOVER_GRACE_S, deadline - time.monotonic())
            psutil.wait_procs(leftovers, timeout=grace)
        # Looked up again each time: a dying member may have started another.
        while survivors := self._group():
            for process in survivors:
                _signal(process, signal.SIGKILL)
            psutil.wait_procs(survivors, timeout=LEFTOVER_GRACE_S)
        return was_running

    def _group(self) -> list[psutil.Process]:
        # The server itself as `self.process`: waiting for it through another handle would reap
        # it there, and its exit status would be lost to `exit_status`.
        return [
            self.process if member.pid == self.pid else member for member in group_members(self.pid)
        ]

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of the server's log, headed by its path."""
        return log_tail(self.log, lines)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def group_members(pgid: int) -> list[psutil.Process]:
    """The live processes of a process group (zombies left out: they have exited)."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and _alive(process):
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def log_tail(log: Path, lines: int = 25) -> str:
    """The last lines of a log, headed by its path, for error messages."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {log})"
    return f"last lines of {log}:\n" + "\n".join(text[-lines:])


def terminate_children() -> None:
    """SIGTERM to each child of this process (what an interrupted job left running)."""
    for child in psutil.Process().children():
        _signal(child, signal.SIGTERM)


def _alive(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _start_ticks(process: psutil.Process) -> int:
    # psutil gives the start time in seconds since the epoch, from the kernel's ticks since boot.
    return round((process.create_time() - psutil.boot_time()) * CLOCK_TICKS)


def _signal(process: psutil.Process, sig: signal.Signals) -> None:
    # psutil refuses to signal a pid that now names another process.
    try:
        process.send_signal(sig)
    except psutil.NoSuchProcess:
        pass
