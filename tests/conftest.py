"""Shared fixtures: the real dev stack (started once, idempotently) and settings pointing at it."""

from __future__ import annotations

import secrets
import signal
from typing import TYPE_CHECKING

import pytest

from devstack import services
from reelflow import connect
from reelflow.settings import Settings

if TYPE_CHECKING:
    from tests.fixtures.mail import MailServer

pytest_plugins = [
    "tests.fixtures.api",
    "tests.fixtures.cache",
    "tests.fixtures.catalog",
    "tests.fixtures.history",
    "tests.fixtures.media",
    "tests.fixtures.objects",
    "tests.fixtures.stripe",
    "tests.fixtures.media_drm",
    "tests.fixtures.browser",
    "tests.fixtures.dagster_ui",
    "tests.fixtures.lifecycle",
    "tests.fixtures.playback",
    "tests.fixtures.recommendations",
    "tests.fixtures.mail",
    "tests.fixtures.log_audit",
]


def pytest_configure(config: pytest.Config) -> None:
    # Started from a shell's background job, Python inherits SIGINT ignored; Dagster then maps
    # SIGTERM to that, and every server a test starts would ignore SIGTERM too.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def settings() -> Settings:
    # Keys of this run in the dev stack's Redis, apart from a demo's or another run's.
    return Settings(redis_namespace=f"reelflow-test-{secrets.token_hex(4)}")


@pytest.fixture(scope="session")
def dev_stack(settings: Settings, mail_server: MailServer) -> Settings:
    """PostgreSQL, Cassandra and S3Proxy running (`make test` starts them; so does this), the
    dev stack's own keyspace migrated as `reelflow migrate` does it."""
    services.up(settings)
    connect.migrate_history(settings)
    # Mail goes to the test's own server, where tests read it.
    return settings.model_copy(update={"smtp_port": mail_server.port})
