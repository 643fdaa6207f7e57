"""The dev stack's RabbitMQ: its own user only, loopback only, its own epmd, stopped together."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import amqp
import psutil
import pytest
from pydantic import SecretStr

from devstack.network import port_open
from devstack.processes import group_members
from devstack.rabbitmq import RabbitMQ
from reelflow.settings import Settings

# Beside the shared stack's broker and the devstack test's (+100), so all can run at once.
PORT = RabbitMQ(Settings()).port + 200
USER, PASSWORD = "brokertest", "brokertest-pw"


@pytest.fixture
def rabbitmq(settings: Settings) -> Iterator[RabbitMQ]:
    state = settings.state_dir / "rabbitmq-test"
    shutil.rmtree(state, ignore_errors=True)
    broker = RabbitMQ(
        Settings(
            state_dir=state, broker_url=SecretStr(f"amqp://{USER}:{PASSWORD}@127.0.0.1:{PORT}//")
        )
    )
    yield broker
    broker.stop()
    shutil.rmtree(state, ignore_errors=True)


def listening(pids: list[int]) -> set[tuple[str, int]]:
    """The addresses the processes listen on."""
    return {
        (conn.laddr.ip, conn.laddr.port)
        for pid in pids
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }


def test_answers_its_own_user_on_loopback_and_stops_with_its_epmd(rabbitmq: RabbitMQ) -> None:
    assert rabbitmq.launch()
    rabbitmq.wait_ready()
    node, epmd = rabbitmq.pid(), rabbitmq.epmd.pid()
    assert node is not None and epmd is not None
    assert rabbitmq.status().state == "ready"

    rabbitmq.broker.login()
    for user, password in (("guest", "guest"), (USER, "not-the-password")):
        with pytest.raises(amqp.AccessRefused):
            rabbitmq.broker.login(user, password)

    node_processes = [p.pid for p in group_members(node)]
    assert listening(node_processes) == {("127.0.0.1", PORT), ("127.0.0.1", PORT + 1)}
    # epmd always adds the IPv6 loopback beside the address it is given.
    assert {ip for ip, _ in listening([epmd])} <= {"127.0.0.1", "::1"}
    assert {port for _, port in listening([epmd])} == {PORT + 2}
    names = subprocess.run(
        ["epmd", "-port", str(PORT + 2), "-names"], capture_output=True, text=True, check=True
    )
    assert f"name reelflow-{PORT} at port {PORT + 1}" in names.stdout

    assert rabbitmq.stop()
    assert group_members(node) == [] and group_members(epmd) == []
    assert not any(port_open(port) for port in (PORT, PORT + 1, PORT + 2))
    assert rabbitmq.status().state == "stopped"
    assert not rabbitmq.stop()


def test_a_restarted_broker_keeps_its_user_and_never_gains_guest(rabbitmq: RabbitMQ) -> None:
    rabbitmq.launch()
    rabbitmq.wait_ready()
    rabbitmq.stop()

    assert rabbitmq.launch()
    rabbitmq.wait_ready()
    rabbitmq.broker.login()
    with pytest.raises(amqp.AccessRefused):
        rabbitmq.broker.login("guest", "guest")
