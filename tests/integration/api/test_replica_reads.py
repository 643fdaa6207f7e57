"""Reads that tolerate lag go to a real PostgreSQL standby of the dev stack's server; when it
stops they fall back to the primary within the same request, logged once, and return to the
standby once it answers again; stopping it under a read load of `reelflow api` workers costs no
error beyond one per worker."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from portpicker import pick_unused_port

from api.main import create_app
from api.replica import LaggingReads
from devstack import services
from devstack.postgres import Postgres, PostgresReplica
from reelflow.settings import Settings
from storage.catalog import Catalog, Role
from tests.fixtures.api import Account
from tests.fixtures.api_module import new_user
from tests.fixtures.catalog import on_port
from tests.fixtures.load import Load
from tests.fixtures.processes import api_server
from tests.fixtures.videos import published

SEARCH = "/api/v1/search"


@pytest.fixture(scope="module")
def standby(dev_stack: Settings) -> Iterator[PostgresReplica]:
    """A hot standby of the dev stack's PostgreSQL, on a port and directory of its own."""
    state = dev_stack.state_dir / "standby-test"
    shutil.rmtree(state, ignore_errors=True)
    own = dev_stack.model_copy(
        update={
            "state_dir": state,
            "postgres_replica_dsn": on_port(dev_stack.postgres_dsn, pick_unused_port()),
        }
    )
    replica = PostgresReplica(own, Postgres(dev_stack))
    try:
        services.start([replica])
        yield replica
    finally:
        replica.stop()
        shutil.rmtree(state, ignore_errors=True)


def caught_up(primary_dsn: str, replica_dsn: str) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    with psycopg.connect(primary_dsn, autocommit=True) as primary:
        row = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    deadline = time.monotonic() + 30
    # Asked in a database the standby has had all along: the test's own may not be there yet.
    with psycopg.connect(replica_dsn, dbname="postgres", autocommit=True) as replica:
        while True:
            done = replica.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
            ).fetchone()
            if done == (True,):
                return
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.05)


def test_lagging_reads_use_the_standby_and_fall_back_to_the_primary(
    api_settings: Settings,
    catalog: Catalog,
    standby: PostgresReplica,
    caplog: pytest.LogCaptureFixture,
) -> None:
    creator = catalog.create_user("standby-creator@example.com", "argon2-hash", role=Role.CREATOR)
    video = published(catalog, creator.id, "Lighthouse keepers of the north")
    replica_dsn = on_port(api_settings.postgres_dsn, standby.port)
    settings = api_settings.model_copy(
        update={"postgres_replica_dsn": replica_dsn, "postgres_replica_retry_s": 0.0}
    )
    caught_up(api_settings.postgres_dsn, replica_dsn)
    with TestClient(create_app(settings)) as client, caplog.at_level(logging.WARNING):
        lagging: LaggingReads = client.app.state.lagging  # type: ignore[attr-defined]
        assert lagging.replica is not None
        replica_reads, primary_reads = lagging.replica.round_trips, lagging.primary.round_trips

        def found() -> list[str]:
            response = client.get(SEARCH, params={"q": "lighthouse"})
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        before = (replica_reads.count, primary_reads.count)
        assert found() == [str(video.id)]
        assert replica_reads.count > before[0] and primary_reads.count == before[1]

        assert client.get("/readyz").json()["dependencies"]["postgres_replica"] == "ok"
        standby.stop()
        for _ in range(3):  # each answered, from the primary
            assert found() == [str(video.id)]
        ready = client.get("/readyz")  # reported, but the API stays ready without it
        assert ready.status_code == 200
        assert ready.json()["dependencies"]["postgres_replica"].startswith("down")
        failures = [r for r in caplog.records if "standby failed a read" in r.getMessage()]
        assert len(failures) == 1

        services.start([standby])
        caught_up(api_settings.postgres_dsn, replica_dsn)
        deadline = time.monotonic() + 30
        while not any("answers again" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "the API did not go back to the standby"
            assert found() == [str(video.id)]
        before = replica_reads.count
        assert found() == [str(video.id)]
        assert replica_reads.count > before


def test_reads_that_may_show_the_callers_own_writes_stay_on_the_primary(
    api_settings: Settings,
    catalog: Catalog,
    standby: PostgresReplica,
    make_account: Callable[..., Account],
) -> None:
    viewer = make_account()
    video = published(catalog, viewer.id, "Harbour seals at dawn")
    replica_dsn = on_port(api_settings.postgres_dsn, standby.port)
    settings = api_settings.model_copy(update={"postgres_replica_dsn": replica_dsn})
    caught_up(api_settings.postgres_dsn, replica_dsn)
    with TestClient(create_app(settings)) as client:
        lagging: LaggingReads = client.app.state.lagging  # type: ignore[attr-defined]
        assert lagging.replica is not None
        on_replica = lagging.replica.round_trips
        comments = f"/api/v1/videos/{video.id}/comments"
        for path, params in ((SEARCH, {"q": "seals"}), (comments, {})):
            before = on_replica.count
            assert client.get(path, params=params, headers=viewer.headers).status_code == 200
            assert on_replica.count == before, f"{path} signed in read the standby"
            assert client.get(path, params=params).status_code == 200
            assert on_replica.count > before, f"{path} anonymous did not read the standby"


WORKERS = 2
READERS = 4
# Reads answered before the standby is stopped, and after.
PHASE = 150


def test_the_standby_stopped_under_read_load_costs_at_most_one_error_per_worker(
    api_settings: Settings, catalog: Catalog, standby: PostgresReplica, tmp_path: Path
) -> None:
    creator = new_user(catalog, Role.CREATOR)
    video = published(catalog, creator.id, "Puffins of the outer isles")
    catalog.add_comment(video.id, creator.id, "Filmed from the cliff path")
    replica_dsn = on_port(api_settings.postgres_dsn, standby.port)
    settings = api_settings.model_copy(update={"postgres_replica_dsn": replica_dsn})
    caught_up(api_settings.postgres_dsn, replica_dsn)
    reads = [(SEARCH, {"q": "puffins"}), (f"/api/v1/videos/{video.id}/comments", {})]

    def send(client: httpx.Client, n: int) -> tuple[httpx.Response, object]:
        path, params = reads[n % len(reads)]
        return client.get(path, params=params), path

    server, url = api_server(settings, tmp_path, "--workers", str(WORKERS))
    with server:
        assert httpx.get(f"{url}/readyz").json()["dependencies"]["postgres_replica"] == "ok"
        with Load(url, send, threads=READERS) as load:
            load.wait_for(PHASE)
            standby.stop()
            stopped_at = load.wait_for(0)
            load.wait_for(stopped_at + PHASE)
        replica_state = httpx.get(f"{url}/readyz").json()["dependencies"]["postgres_replica"]
    services.start([standby])  # as the module's other tests expect it

    after = load.answers[stopped_at:]
    errors = [answer for answer in load.answers if answer.status >= 500]
    print(
        f"{len(load.answers)} reads by {READERS} readers from {WORKERS} workers, "
        f"{len(after)} after the standby stopped: {len(errors)} answered 5xx"
    )
    assert len(errors) <= WORKERS
    assert all(answer.status == 200 for answer in after[len(errors) :])
    # The reads went on from the primary: the standby was down.
    assert replica_state.startswith("down")
    log = server.log.read_text()
    assert 1 <= log.count("standby failed a read") <= WORKERS
