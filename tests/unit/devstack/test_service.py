"""A dev stack service's ports: clear of the kernel's outgoing-connection range, and refused
before launch when held."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import services
from devstack.cassandra import Cassandra
from devstack.network import HOST, ephemeral_ports
from devstack.postgres import Postgres
from devstack.rabbitmq import RabbitMQ
from devstack.s3proxy import S3Proxy
from devstack.service import ServiceError
from reelflow.settings import Settings


def test_default_ports_lie_outside_the_range_clients_take() -> None:
    ephemeral = ephemeral_ports()
    stack = services.services(Settings())
    ports = {service.name: service.port for service in stack}
    ports["cassandra storage"] = next(s for s in stack if isinstance(s, Cassandra)).storage_port
    rabbitmq = next(s for s in stack if isinstance(s, RabbitMQ))
    ports["rabbitmq distribution"] = rabbitmq.dist_port
    ports["rabbitmq epmd"] = rabbitmq.epmd.port
    assert len(set(ports.values())) == len(ports) == 10
    assert {name: port for name, port in ports.items() if port in ephemeral} == {}


@pytest.fixture
def client_socket() -> Iterator[socket.socket]:
    """A connected client socket, holding a local port the kernel chose for it."""
    with socket.create_server((HOST, 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with client, accepted:
            yield client


def test_a_port_held_by_a_client_connection_is_refused_before_launch(
    client_socket: socket.socket, tmp_path: Path
) -> None:
    port = client_socket.getsockname()[1]
    assert port in ephemeral_ports()
    postgres = Postgres(
        Settings(state_dir=tmp_path, postgres_dsn=f"postgresql://u:p@127.0.0.1:{port}/db")
    )
    with pytest.raises(ServiceError) as refused:
        postgres.launch()
    message = str(refused.value)
    assert f"127.0.0.1:{port} is held by another socket" in message
    assert "range for outgoing connections" in message
    assert postgres.pid() is None and not postgres.log_file.exists()


def test_a_port_another_server_listens_on_is_refused(tmp_path: Path) -> None:
    with socket.create_server((HOST, 0)) as server:
        port = server.getsockname()[1]
        s3 = S3Proxy(Settings(state_dir=tmp_path, s3_endpoint_url=f"http://127.0.0.1:{port}"))
        with pytest.raises(ServiceError, match="taken by a process this dev stack"):
            s3.launch()
    assert s3.pid() is None
