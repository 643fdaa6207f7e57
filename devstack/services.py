"""The dev stack: the local PostgreSQL, Cassandra, S3, Stripe, RabbitMQ and Redis servers, started
and stopped together.

Each server is a `Service` (devstack/service.py), run by the process supervisor
(devstack/processes.py); `up` is idempotent, `down` stops only what this stack started.
"""

from __future__ import annotations

from devstack.cassandra import Cassandra
from devstack.postgres import Postgres
from devstack.processes import ServerError
from devstack.rabbitmq import RabbitMQ
from devstack.redis import Redis
from devstack.s3proxy import S3Proxy
from devstack.service import Service, Status
from devstack.stripe import StripeMock
from reelflow.settings import Settings


def services(settings: Settings) -> list[Service]:
    """The services of the stack `settings` describe, in start order."""
    stack: list[Service] = [Postgres(settings), Cassandra(settings), S3Proxy(settings)]
    if settings.stripe_api_base:  # unset in prod: real Stripe, nothing to run
        stack.append(StripeMock(settings))
    stack.append(RabbitMQ(settings))
    # Unset or empty: no cache, the API reads the databases for everything.
    if settings.redis_url is not None and settings.redis_url.get_secret_value():
        stack.append(Redis(settings))
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
        except ServerError as exc:
            errors.append(str(exc))
    if errors:
        raise ServerError("\n\n".join(errors))
    return [service.status() for service in stack]


def down(settings: Settings) -> list[str]:
    """Stop what this dev stack started; the names of the services that were running."""
    return [service.name for service in reversed(services(settings)) if service.stop()]


def status(settings: Settings) -> list[Status]:
    """Each service's state, endpoint and log."""
    return [service.status() for service in services(settings)]
