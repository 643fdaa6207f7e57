"""The dev stack's RabbitMQ: what it reads from the broker URL, and the ports it derives."""

from __future__ import annotations

import pytest

from devstack.rabbitmq import Broker, RabbitMQ
from reelflow.settings import Settings


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("amqp://media:pw@127.0.0.1:15673//", ("media", "pw", 15673, "/")),
        ("amqp://media:pw@mq.internal", ("media", "pw", 5672, "/")),
        ("amqp://m%40x:p%2Fw%3A1@mq:5671/%2Fmedia", ("m@x", "p/w:1", 5671, "/media")),
        ("amqp://media:pw@mq:5672/reelflow-test-1", ("media", "pw", 5672, "reelflow-test-1")),
    ],
)
def test_the_broker_url_names_user_password_port_and_virtual_host(
    url: str, parts: tuple[str, str, int, str]
) -> None:
    broker = Broker(url)
    assert (broker.user, broker.password, broker.port, broker.vhost) == parts


def test_a_node_takes_the_two_ports_after_its_broker_port_and_is_named_after_it() -> None:
    rabbitmq = RabbitMQ(Settings(broker_url="amqp://u:p@127.0.0.1:15773//"))
    assert (rabbitmq.port, rabbitmq.dist_port, rabbitmq.epmd.port) == (15773, 15774, 15775)
    assert rabbitmq.node == "reelflow-15773@localhost"
    environment = rabbitmq.environment()
    assert environment["ERL_EPMD_PORT"] == "15775"
    assert environment["RABBITMQ_MNESIA_BASE"].startswith(str(rabbitmq.dir))
