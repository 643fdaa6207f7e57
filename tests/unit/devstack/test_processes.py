"""The process supervisor on real processes: own session, pid files, readiness, stopping groups."""

from __future__ import annotations

import os
import pwd
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from devstack.processes import Server, ServerError, group_members
from reelflow.settings import PROJECT_ROOT

# One line each, as the supervisor writes the command into the log before the output.
SLEEPS = "import time; time.sleep(300)"
# Prints the pid of a child it leaves in its group, then waits for SIGTERM (default: exit).
LEAVES_A_CHILD = (
    "import subprocess, sys, time; "
    f"child = subprocess.Popen([sys.executable, '-c', {SLEEPS!r}]); "
    "print('child', child.pid, flush=True); time.sleep(300)"
)
IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(300)"
)
TERMINATES_ITS_CHILDREN = """
import subprocess
from devstack.processes import terminate_children
child = subprocess.Popen(["sleep", "300"])
terminate_children()
print(child.wait())
"""


def python(tmp_path: Path, script: str, *, endpoint: str = "") -> Server:
    """A server running a Python `script`, logging to tmp_path/server.log."""
    command = [sys.executable, "-c", script]
    log = tmp_path / "server.log"
    return Server.start("server", command, log=log, cwd=tmp_path, endpoint=endpoint)


def output(server: Server) -> list[str]:
    """What the server wrote to its log, after the line the supervisor wrote."""
    return server.log.read_text().splitlines()[2:]


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting to be reaped."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_server_leads_its_own_session_and_logs_to_its_file(tmp_path: Path) -> None:
    script = f"print('hello', flush=True); {SLEEPS}"
    with python(tmp_path, script) as server:
        server.wait_ready(lambda: output(server) == ["hello"], 30)
        assert server.running()
        assert os.getsid(server.pid) == server.pid == os.getpgid(server.pid)
        assert os.getsid(server.pid) != os.getsid(0)
        header = server.log.read_text().splitlines()[1]
        assert header.startswith("--- ") and header.endswith(f" -c {shlex.quote(script)}")
    assert not server.running()
    assert server.exit_status() == -15
    assert gone(server.pid)


def test_a_pid_file_names_the_process_and_never_a_recycled_pid(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    server = python(tmp_path, SLEEPS)
    server.write_pid_file(pid_file)
    found = Server.from_pid_file("server", pid_file, server.log)
    assert found is not None and found.pid == server.pid and found.running()

    pid, started = pid_file.read_text().split()
    # The same pid started at another time is another process.
    pid_file.write_text(f"{pid} {int(started) + 1}\n")
    assert Server.from_pid_file("server", pid_file, server.log) is None
    pid_file.write_text("not a pid file\n")
    assert Server.from_pid_file("server", pid_file, server.log) is None
    assert Server.from_pid_file("server", tmp_path / "missing", server.log) is None

    pid_file.write_text(f"{pid} {started}\n")
    assert found.stop() is True
    assert Server.from_pid_file("server", pid_file, server.log) is None
    assert not server.running()


def test_stopping_ends_what_the_server_left_in_its_group(tmp_path: Path) -> None:
    server = python(tmp_path, LEAVES_A_CHILD)
    server.wait_ready(lambda: bool(output(server)), 30)
    child = int(output(server)[0].removeprefix("child "))
    assert sorted(p.pid for p in group_members(server.pid)) == sorted([server.pid, child])

    assert server.stop() is True
    assert group_members(server.pid) == []
    assert gone(child)
    # Stopping again is harmless and says nothing was running.
    assert server.stop() is False


def test_a_server_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    server = python(tmp_path, IGNORES_SIGTERM)
    server.wait_ready(lambda: output(server) == ["up"], 30)
    started = time.monotonic()
    assert server.stop(timeout_s=1) is True
    assert 1 <= time.monotonic() - started < 5
    assert server.exit_status() == -9
    assert group_members(server.pid) == []


def test_a_server_is_asked_to_stop_with_its_own_signal(tmp_path: Path) -> None:
    # Ignores SIGTERM, exits 0 on SIGINT: only the signal it was given stops it without a kill.
    server = python(
        tmp_path,
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(0)); "
        "print('up', flush=True); time.sleep(300)",
    )
    server.wait_ready(lambda: output(server) == ["up"], 30)
    assert server.stop(timeout_s=30, first=signal.SIGINT) is True
    assert server.exit_status() == 0


def test_an_exit_during_start_up_is_reported_with_its_status_and_log(tmp_path: Path) -> None:
    server = python(tmp_path, "print('no configuration found'); raise SystemExit(3)")
    with pytest.raises(ServerError) as failure:
        server.wait_ready(lambda: False, 30)
    message = str(failure.value)
    assert message.startswith("server exited with status 3 during start-up.")
    assert f"last lines of {server.log}" in message
    assert message.endswith("no configuration found")


def test_a_server_that_never_answers_is_reported_after_the_timeout(tmp_path: Path) -> None:
    with python(tmp_path, SLEEPS, endpoint="http://127.0.0.1:1") as server:
        with pytest.raises(ServerError, match=r"did not answer on http://127.0.0.1:1 within 1 s"):
            server.wait_ready(lambda: False, 1)
        assert server.running()


def test_a_server_runs_as_the_given_user(tmp_path: Path) -> None:
    # Only root may start a process as another user; anyone may as themselves.
    user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    # A system program in a directory anyone may enter: this virtualenv may not be readable.
    command = ["sleep", "300"]
    log = tmp_path / "server.log"
    with Server.start("server", command, log=log, cwd=Path("/"), user=user) as server:
        assert server.process.username() == user


def test_terminate_children_sends_sigterm_to_each_child() -> None:
    # In a process of its own: here it would reach whatever servers the test session started.
    finished = subprocess.run(
        [sys.executable, "-c", TERMINATES_ITS_CHILDREN],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["-15"]
