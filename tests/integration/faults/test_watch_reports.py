"""Watch reports sent through a `reelflow api` process on the three-node ring while it loses
nodes: with one node killed and later back, every report the API accepted is on every replica;
with two of three down, reports and account erasures are refused with 503 at once and leave
nothing behind in PostgreSQL or Cassandra."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from psycopg import sql

from devstack import cassandra, services
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog
from tests.fixtures.api_module import bearer, new_user
from tests.fixtures.load import Load, wait_until
from tests.fixtures.processes import api_server
from tests.fixtures.ring import ADDRESSES, all_up_and_normal, kill, seen_down
from tests.fixtures.videos import published

REPORTS_PER_S = 10
# Reports sent in each phase: before the kill, with the node down, after it is back.
PHASE = 40
DURATION_S = 3600.0
HISTORY_UNAVAILABLE = {"status": 503, "code": "history_unavailable"}


@dataclass
class OnRing:
    settings: Settings
    url: str
    catalog: Catalog
    video: UUID
    headers: dict[str, str]


@pytest.fixture
def on_ring(
    api_settings: Settings, ring: Settings, catalog: Catalog, tmp_path: Path
) -> Iterator[OnRing]:
    """A `reelflow api` process whose viewing history is the ring's, a published video and a
    viewer signed in to watch it."""
    settings = api_settings.with_cassandra_of(ring).model_copy(
        update={"rate_limits": {"watch:account": "100000/60"}}
    )
    creator = new_user(catalog)
    video = published(catalog, creator.id, "Storm petrels", duration_s=DURATION_S)
    headers = bearer(catalog, settings, new_user(catalog))
    server, url = api_server(settings, tmp_path)
    with server:
        yield OnRing(settings, url, catalog, video.id, headers)


def report(n: int, session: UUID) -> dict[str, object]:
    """The body of the n-th player report of `session`."""
    return {
        "position_s": float(n % int(DURATION_S)),
        "duration_s": DURATION_S,
        "watched_delta_s": 1.0,
        "session_id": str(session),
        "event_type": "progress",
    }


def steady_reports(on_ring: OnRing) -> Load:
    """The viewer's reports at a steady rate, each from a new session (so that each stored
    event names the report it came from)."""

    def send(client: httpx.Client, n: int) -> tuple[httpx.Response, object]:
        session = uuid4()
        path = f"/api/v1/videos/{on_ring.video}/watch"
        return client.post(path, json=report(n, session), headers=on_ring.headers), session

    return Load(on_ring.url, send, rate_per_s=REPORTS_PER_S)


def read_at_all(ring: Settings) -> Settings:
    return ring.model_copy(update={"cassandra_read_consistency": "ALL"})


def stored_sessions(ring: Settings, video: UUID, days: set[date]) -> set[UUID]:
    """The sessions of the video's watch events, read from every replica (`ALL`)."""
    with connect.history(read_at_all(ring)) as history:
        return {
            event.session_id
            for day in days
            for event in history.events_for_day(day)
            if event.video_id == video
        }


def test_every_report_accepted_while_a_node_is_lost_and_back_is_on_every_replica(
    on_ring: OnRing, ring: Settings, whole_ring: list[cassandra.Cassandra]
) -> None:
    # The seed, and the first of the API's contact points.
    lost, witness = whole_ring[0], whole_ring[1]
    days = {datetime.now(UTC).date()}
    with steady_reports(on_ring) as reports:
        reports.wait_for(PHASE)
        kill(lost)
        down_from = len(reports.answers)
        reports.wait_for(2 * PHASE)
        services.start([lost])
        assert all_up_and_normal(witness) == ADDRESSES
        down_until = reports.wait_for(0)
        reports.wait_for(down_until + PHASE)
    days.add(datetime.now(UTC).date())
    with connect.history(ring) as history:
        # A node that was killed learns any schema change it missed from the others.
        assert history.session.cluster.control_connection.wait_for_schema_agreement(wait_time=120)
    lost.nodetool("repair", "--full", ring.cassandra_keyspace)
    stored = stored_sessions(ring, on_ring.video, days)

    sent = [answer.key for answer in reports.answers]
    accepted = {answer.key for answer in reports.answers if answer.status == 200}
    refused = [a for a in reports.answers if a.status != 200]
    print(
        f"reports sent {len(sent)} at {REPORTS_PER_S}/s, accepted {len(accepted)}, "
        f"refused {len(refused)}, found at ALL {len(stored & accepted)}; "
        f"refused but stored {len(stored - accepted)}"
    )
    # Zero lost: every report answered 2xx is on all three replicas.
    assert accepted <= stored
    # Nothing stored that was not sent; a refused report may still have been stored (a write
    # timeout is not a rollback), which the caller's retry with its session id tolerates.
    assert stored <= set(sent)
    # A refusal is the API's clear 503, never a 500 or a hang.
    assert all({"status": a.status, "code": a.code} == HISTORY_UNAVAILABLE for a in refused)
    # While the node was down reports went on being accepted: a quorum is two of three.
    while_down = reports.answers[down_from:down_until]
    print(
        f"while {lost.host} was down: {len(while_down)} sent, "
        f"{sum(a.status == 200 for a in while_down)} accepted"
    )
    assert sum(a.status == 200 for a in while_down) > len(while_down) / 2


def table_rows(dsn: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the catalog database, in a stable order."""
    with psycopg.connect(dsn) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        return {
            table: sorted(
                conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall(),
                key=repr,
            )
            for table in tables
        }


def test_with_two_of_three_down_writes_fail_at_once_and_leave_nothing_behind(
    on_ring: OnRing, ring: Settings, whole_ring: list[cassandra.Cassandra]
) -> None:
    survivor = whole_ring[0]
    me = "/api/v1/users/me"
    with httpx.Client(base_url=on_ring.url, headers=on_ring.headers, timeout=60) as client:
        assert client.get(me).status_code == 200
        before = table_rows(on_ring.settings.postgres_dsn)
        for node in whole_ring[1:]:
            kill(node)
        wait_until(lambda: seen_down(survivor, ADDRESSES[1:]), 60, "two nodes seen down")
        days = {datetime.now(UTC).date()}
        # Cassandra first, so a refused erasure has changed nothing anywhere.
        erasure = client.delete(me)

        sessions, answers = [], []
        for n in range(PHASE):
            sessions.append(uuid4())
            started = time.monotonic()
            response = client.post(
                f"/api/v1/videos/{on_ring.video}/watch", json=report(n, sessions[-1])
            )
            answers.append((response, time.monotonic() - started))
        days.add(datetime.now(UTC).date())

        assert (erasure.status_code, erasure.json()["code"]) == (503, "history_unavailable")
        assert [(r.status_code, r.json()["code"]) for r, _ in answers] == [
            (503, "history_unavailable")
        ] * PHASE
        # After a few failures the breaker answers without waiting on Cassandra at all.
        assert "Retry-After" in answers[-1][0].headers
        # The account, its session and everything else in PostgreSQL are as they were.
        assert table_rows(on_ring.settings.postgres_dsn) == before
        assert client.get(me).status_code == 200
        seconds = [s for _, s in answers]
        print(
            f"two of three down: {PHASE} reports refused with 503, median "
            f"{statistics.median(seconds) * 1000:.1f} ms, slowest {max(seconds) * 1000:.1f} ms; "
            f"account erasure refused in {erasure.elapsed.total_seconds() * 1000:.1f} ms"
        )

    # Nothing reached the one node left, nor the others once back.
    services.start(whole_ring[1:])
    assert all_up_and_normal(survivor) == ADDRESSES
    assert not stored_sessions(ring, on_ring.video, days) & set(sessions)
