"""The `reelflow` command: arguments checked first, then the settings; one exit code per outcome
(0 done, 1 failed with a message, 2 refused arguments or settings, 3 dev stack not ready)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from cli.main import build_parser, main
from tests.unit.reelflow.test_settings import REAL_SECRETS


@pytest.fixture
def taken_ports() -> Iterator[list[int]]:
    """Three loopback ports on which something other than the dev stack listens."""
    with ExitStack() as stack:
        ports = []
        for _ in range(3):
            listener = stack.enter_context(socket.socket())
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            ports.append(listener.getsockname()[1])
        yield ports


@pytest.fixture
def empty_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A state directory this dev stack never used, and no stripe-mock in the stack."""
    monkeypatch.setenv("REELFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("REELFLOW_STRIPE_API_BASE", "")
    return tmp_path / "state"


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "the following arguments are required: command"),
        (["launch"], "invalid choice: 'launch'"),
        (["devstack"], "the following arguments are required: action"),
        (["reprocess"], "the following arguments are required: VIDEO_ID"),
        (["api", "--port", "eighty"], "argument --port: invalid int value: 'eighty'"),
        (["seed", "events", "--days", "a week"], "argument --days: invalid int value"),
        (["worker", "--queue", "media"], "argument --queue: invalid choice: 'media'"),
        (["worker", "--concurrency", "0"], "argument --concurrency: must be 1 or more, not 0"),
        (["worker", "--concurrency", "two"], "argument --concurrency: not a whole number: 'two'"),
    ],
)
def test_refused_arguments_exit_2_with_the_usage(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: reelflow") and complaint in err


def test_arguments_are_checked_before_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    with pytest.raises(SystemExit):
        main(["devstack", "restart"])
    err = capsys.readouterr().err
    assert "invalid choice: 'restart'" in err and "invalid settings" not in err


def test_invalid_settings_exit_2_naming_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    assert main(["devstack", "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("reelflow: invalid settings:")
    assert "refuses to start" in err and "REELFLOW_DRM_MASTER_KEY" in err


def test_the_demo_refuses_a_production_deployment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    assert main(["demo", "--no-serve"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("reelflow: the demo seeds made-up data")


def test_status_of_a_stack_that_is_not_running_exits_3(
    empty_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["devstack", "status"]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["postgres", "stopped"],
        ["cassandra", "stopped"],
        ["s3proxy", "stopped"],
        ["rabbitmq", "stopped"],
        ["redis", "stopped"],
        ["mail-sink", "stopped"],
    ]


def test_a_failure_exits_1_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
    empty_state: Path,
    taken_ports: list[int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    postgres, cassandra, s3 = taken_ports
    monkeypatch.setenv(
        "REELFLOW_POSTGRES_DSN", f"postgresql://reelflow:reelflow@127.0.0.1:{postgres}/reelflow"
    )
    monkeypatch.setenv("REELFLOW_CASSANDRA_PORT", str(cassandra))
    monkeypatch.setenv("REELFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{s3}")

    assert main(["devstack", "up"]) == 1

    captured = capsys.readouterr()
    assert captured.err.startswith("reelflow: postgres: ")
    assert f"127.0.0.1:{postgres} is taken" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_worker_queues_and_concurrency() -> None:
    default = build_parser().parse_args(["worker"])
    assert (default.queues, default.concurrency) == (None, 1)
    chosen = build_parser().parse_args(
        ["worker", "--queue", "media-heavy", "--queue", "media-light", "--concurrency", "3"]
    )
    assert (chosen.queues, chosen.concurrency) == (["media-heavy", "media-light"], 3)
