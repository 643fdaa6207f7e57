"""Fault tests share one three-node Cassandra ring of the dev stack, on its own ports and
state dir: started once for the package, and whole again after each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from devstack import cassandra, services
from reelflow import connect
from reelflow.settings import Settings
from tests.fixtures.ring import ADDRESSES, RING_PORT, all_up_and_normal


@pytest.fixture(scope="package")
def ring(settings: Settings) -> Iterator[Settings]:
    """The settings of a running, migrated three-node ring (RF 3, `LOCAL_QUORUM`)."""
    state = settings.state_dir / "ring-test"
    shutil.rmtree(state, ignore_errors=True)
    stack = Settings(state_dir=state, cassandra_nodes=3, cassandra_port=RING_PORT)
    nodes = cassandra.ring(stack)
    try:
        services.start(list(nodes))
        connect.migrate_history(stack)
        yield stack
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def whole_ring(ring: Settings) -> Iterator[list[cassandra.Cassandra]]:
    """The ring's nodes; any the test killed are started again afterwards, and every node is
    up and normal before the next test."""
    nodes = cassandra.ring(ring)
    yield nodes
    down = [node for node in nodes if node.pid() is None]
    if down:
        services.start(down)
        assert all_up_and_normal(nodes[0]) == ADDRESSES
