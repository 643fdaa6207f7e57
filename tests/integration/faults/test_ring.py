"""A three-node Cassandra ring from the dev stack: the nodes join one after another, and the
settings of a ring point clients at all three."""

from __future__ import annotations

from devstack import cassandra, services
from reelflow.settings import Settings
from tests.fixtures.ring import ADDRESSES, RING_PORT, all_up_and_normal


def test_three_nodes_join_one_after_another(
    ring: Settings, whole_ring: list[cassandra.Cassandra]
) -> None:
    first, second, third = whole_ring
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
