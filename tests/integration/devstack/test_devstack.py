"""The dev stack on its own ports and state dir: up is idempotent, status tells, down stops all."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import psycopg
import pytest
from pydantic import SecretStr

from devstack import services
from devstack.mail import MailSink
from devstack.network import port_open
from devstack.postgres import Postgres
from devstack.processes import ServerError, group_members
from reelflow.mail import MailKind, SmtpSender, compose
from reelflow.settings import Settings

SHARED = {service.name: service.port for service in services.services(Settings())}
PORTS = {name: port + 100 for name, port in SHARED.items()}


@pytest.fixture(scope="module")
def own_stack(settings: Settings) -> Iterator[Settings]:
    state = settings.state_dir / "devstack-test"
    shutil.rmtree(state, ignore_errors=True)
    # Ports beside the shared stack's, so both can run at once.
    stack = Settings(
        state_dir=state,
        postgres_dsn=f"postgresql://stacktest:stacktest-pw@127.0.0.1:{PORTS['postgres']}/stacktest",
        cassandra_port=PORTS["cassandra"],
        s3_endpoint_url=f"http://127.0.0.1:{PORTS['s3proxy']}",
        stripe_api_base=f"http://127.0.0.1:{PORTS['stripe-mock']}",
        broker_url=SecretStr(f"amqp://stacktest:stacktest-pw@127.0.0.1:{PORTS['rabbitmq']}//"),
        redis_url=SecretStr(f"redis://:stacktest-pw@127.0.0.1:{PORTS['redis']}/0"),
        smtp_port=PORTS["mail-sink"],
    )
    yield stack
    services.down(stack)
    shutil.rmtree(state, ignore_errors=True)


def test_up_twice_status_and_down(own_stack: Settings) -> None:
    first = services.up(own_stack)
    assert [s.name for s in first] == [
        "postgres",
        "cassandra",
        "s3proxy",
        "stripe-mock",
        "rabbitmq",
        "redis",
        "mail-sink",
    ]
    assert all(s.ready for s in first), first
    pids = {s.name: s.pid for s in first}

    second = services.up(own_stack)
    assert {s.name: s.pid for s in second} == pids, "a second `up` must reuse the running services"

    reported = {s.name: s for s in services.status(own_stack)}
    assert reported["postgres"].endpoint == f"postgresql://127.0.0.1:{PORTS['postgres']}/stacktest"
    assert reported["cassandra"].endpoint == f"cql://127.0.0.1:{PORTS['cassandra']}"
    assert reported["s3proxy"].endpoint == f"http://127.0.0.1:{PORTS['s3proxy']}"
    assert reported["stripe-mock"].endpoint == f"http://127.0.0.1:{PORTS['stripe-mock']}"
    assert reported["rabbitmq"].endpoint == f"amqp://127.0.0.1:{PORTS['rabbitmq']}"
    assert reported["redis"].endpoint == f"redis://127.0.0.1:{PORTS['redis']}"
    assert reported["mail-sink"].endpoint == f"smtp://127.0.0.1:{PORTS['mail-sink']}"
    assert all(s.state == "ready" and s.log.exists() for s in reported.values())

    # The configured role, password and database exist: the DSN works as written.
    with psycopg.connect(own_stack.postgres_dsn) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "stacktest",
            "stacktest",
        )

    # The mail sink keeps what it is sent, as `reelflow devstack mail` reads it.
    message = compose(own_stack, MailKind.ACCOUNT_EXISTS, "ann@example.com", {})
    sender = SmtpSender(own_stack)
    with sender.open() as smtp:
        sender.send(smtp, message)
    (kept,) = MailSink(own_stack).messages()
    assert (kept["To"], kept["Subject"]) == ("ann@example.com", message["Subject"])

    assert sorted(services.down(own_stack)) == [
        "cassandra",
        "mail-sink",
        "postgres",
        "rabbitmq",
        "redis",
        "s3proxy",
        "stripe-mock",
    ]
    after = services.status(own_stack)
    assert all(s.pid is None and s.state == "stopped" for s in after)
    # Nothing of their process groups is left (PostgreSQL's backends included).
    for name, pid in pids.items():
        assert pid is not None and group_members(pid) == [], f"{name} left processes behind"
    for service in services.services(own_stack):
        assert not port_open(service.port), f"{service.name} still listens"
    assert services.down(own_stack) == []


def test_failed_start_reports_log_tail(own_stack: Settings) -> None:
    broken_settings = own_stack.model_copy(
        update={
            "state_dir": own_stack.state_dir / "broken",
            "postgres_dsn": f"postgresql://st:pw@127.0.0.1:{PORTS['postgres'] + 1}/st",
        }
    )
    broken = Postgres(broken_settings)
    # A data directory that claims a cluster but holds none: the server exits at once.
    (broken.data_dir).mkdir(parents=True)
    (broken.data_dir / "PG_VERSION").write_text("15\n")
    broken.launch()
    with pytest.raises(ServerError) as failure:
        broken.wait_ready()
    message = str(failure.value)
    assert "postgres exited during start-up" in message
    assert str(broken.log_file) in message
    assert broken.pid() is None
