"""A three-node Cassandra ring from the dev stack, on its own ports and state dir: the nodes join
one after another, and a watch report accepted while a node is down is on every replica once the
node is back and repaired."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psutil
import pytest
from cassandra import OperationTimedOut, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable

from devstack import cassandra, services
from reelflow import connect
from reelflow.settings import Settings
from storage.history import History

# Beside the shared stack's node (and the other dev stack test's), so all can run at once.
RING_PORT = Settings().cassandra_port + 200
ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
# What a write or a read meets when too few replicas answer: each is an error to the caller,
# never a silent success.
REFUSED = (NoHostAvailable, Unavailable, WriteTimeout, OperationTimedOut)


@pytest.fixture(scope="module")
def ring(settings: Settings) -> Iterator[Settings]:
    state = settings.state_dir / "ring-test"
    shutil.rmtree(state, ignore_errors=True)
    stack = Settings(state_dir=state, cassandra_nodes=3, cassandra_port=RING_PORT)
    nodes = cassandra.ring(stack)
    try:
        services.start(list(nodes))
        yield stack
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(state, ignore_errors=True)


def up_and_normal(node: cassandra.Cassandra) -> list[str]:
    """The addresses `nodetool status` shows as Up and Normal."""
    return sorted(
        line.split()[1] for line in node.nodetool("status").splitlines() if line.startswith("UN")
    )


def all_up_and_normal(node: cassandra.Cassandra) -> list[str]:
    """`up_and_normal` once it lists every node (failure detectors take a moment to mark a node
    that has just answered as up), or as it stands after a minute."""
    deadline = time.monotonic() + 60
    while (seen := up_and_normal(node)) != ADDRESSES and time.monotonic() < deadline:
        time.sleep(1)
    return seen


def report(history: History, user: UUID, video: UUID, n: int) -> None:
    history.record_watch(
        user,
        video,
        float(n),
        600.0,
        watched_delta_s=1.0,
        session_id=uuid4(),
        at=T0 + timedelta(seconds=n),
    )


def test_three_nodes_join_one_after_another(ring: Settings) -> None:
    first, second, third = cassandra.ring(ring)
    assert [node.name for node in (first, second, third)] == [
        "cassandra",
        "cassandra-2",
        "cassandra-3",
    ]
    assert (second.starts_after, third.starts_after) == (first, second)
    assert [node.endpoint for node in (first, second, third)] == [
        f"cql://{address}:{RING_PORT}" for address in ADDRESSES
    ]
    assert all_up_and_normal(first) == ADDRESSES
    # The settings of a ring point every client at all three and replicate three times.
    assert ring.cassandra_contact_points == ADDRESSES
    assert ring.cassandra_replication == "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"
    assert {s.name for s in services.status(ring)} >= {"cassandra", "cassandra-2", "cassandra-3"}


def test_a_report_accepted_with_a_node_down_is_on_every_replica_after_repair(
    ring: Settings,
) -> None:
    connect.migrate_history(ring)
    nodes = cassandra.ring(ring)
    lost_node = nodes[2]
    video = uuid4()
    accepted: list[UUID] = []
    refused = 0
    reasons: set[str] = set()
    with connect.history(ring) as history:
        for n in range(20):
            user = uuid4()
            report(history, user, video, n)
            accepted.append(user)

        pid = lost_node.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        psutil.Process(pid).wait(timeout=60)

        for n in range(20, 60):
            user = uuid4()
            try:
                report(history, user, video, n)
            except REFUSED as exc:
                refused += 1
                reasons.add(repr(exc)[:300])
                continue
            accepted.append(user)
        # Two replicas of three are a quorum: reports are still accepted with a node down (one
        # the driver had already sent to the dead node is answered with an error instead).
        assert refused < 40 and len(accepted) == 60 - refused
        everyone = History(history.session, history.keyspace, read_consistency="ALL")
        with pytest.raises(REFUSED):
            everyone.get_progress(accepted[0], video)

        services.start([lost_node])
        assert all_up_and_normal(nodes[0]) == ADDRESSES
        # The node may have lost the schema with its unsynced writes; it learns it from the others.
        assert history.session.cluster.control_connection.wait_for_schema_agreement(wait_time=120)
        lost_node.nodetool("repair", "--full", ring.cassandra_keyspace)
        found = [user for user in accepted if everyone.get_progress(user, video) is not None]
    print(
        f"reports sent 60, accepted {len(accepted)}, refused {refused}, found at ALL {len(found)}"
    )
    print(*sorted(reasons), sep="\n")
    assert len(found) == len(accepted)
