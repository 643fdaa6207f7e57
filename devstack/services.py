"""The dev stack: the local PostgreSQL, Cassandra, S3, Stripe, RabbitMQ, Redis and mail servers,
started and stopped together.

Each server is a `Service` (devstack/service.py), run by the process supervisor
(devstack/processes.py); `up` is idempotent, `down` stops only what this stack started.
"""

from __future__ import annotations

from collections.abc import Sequence

from devstack import cassandra
from devstack.mail import MailSink
from devstack.network import HOST
from devstack.postgres import Postgres, PostgresReplica
from devstack.processes import ServerError
from devstack.rabbitmq import RabbitMQ
from devstack.redis import Redis
from devstack.s3proxy import S3Proxy
from devstack.service import Service, Status
from devstack.stripe import StripeMock
from reelflow.settings import Settings


def services(settings: Settings, *, unconfigured: bool = False) -> list[Service]:
    """The services of the stack `settings` describe, in start order; with `unconfigured`, also
    those they do not ask for but another run may have started (every Cassandra node a ring can
    have, the PostgreSQL standby), so that `down` stops them."""
    postgres = Postgres(settings)
    stack: list[Service] = [postgres]
    if settings.postgres_replica_dsn or unconfigured:
        stack.append(PostgresReplica(settings, postgres))
    nodes = cassandra.MAX_NODES if unconfigured else settings.cassandra_nodes
    stack += [*cassandra.ring(settings, nodes), S3Proxy(settings)]
    if settings.stripe_api_base:  # unset in prod: real Stripe, nothing to run
        stack.append(StripeMock(settings))
    stack.append(RabbitMQ(settings))
    # Unset or empty: no cache, the API reads the databases for everything.
    if settings.redis_url is not None and settings.redis_url.get_secret_value():
        stack.append(Redis(settings))
    # Another SMTP server named (a relay): nothing to run.
    if settings.smtp_host == HOST and settings.smtp_security == "none":
        stack.append(MailSink(settings))
    return stack


def up(settings: Settings) -> list[Status]:
    """Start every service that is not running, then wait until each answers."""
    return start(services(settings))


def start(stack: Sequence[Service]) -> list[Status]:
    """Start each service of `stack` that is not running (once the one it starts after
    answers), then wait until each answers; their statuses."""
    for service in stack:
        if service.starts_after is not None:
            service.starts_after.wait_ready()
        service.launch()
    errors = []
    for service in stack:
        try:
            service.wait_ready()
        except ServerError as exc:
            errors.append(str(exc))
    if errors:
        raise ServerError("\n\n".join(errors))
    return [service.status() for service in stack]


def down(settings: Settings) -> list[str]:
    """Stop what this dev stack started; the names of the services that were running."""
    stack = services(settings, unconfigured=True)
    return [service.name for service in reversed(stack) if service.stop()]


def status(settings: Settings) -> list[Status]:
    """Each service's state, endpoint and log."""
    return [service.status() for service in services(settings)]
