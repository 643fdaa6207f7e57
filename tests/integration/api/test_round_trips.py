"""What a hot request costs the stores, counted: a change that adds a statement to the video,
feed or watch path fails here. The counts are of a signed-in viewer whose session check and the
shared answers are already in Redis, as for nearly every request of a busy API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.testclient import TestClient

from storage.catalog import Catalog, Role
from tests.fixtures.api import Account
from tests.fixtures.videos import published


@dataclass(frozen=True)
class Cost:
    postgres: int
    cassandra: int

    def __le__(self, budget: Cost) -> bool:
        return self.postgres <= budget.postgres and self.cassandra <= budget.cassandra


def cost(client: TestClient, request: Callable[[], int]) -> Cost:
    """The statements one request sends to PostgreSQL and Cassandra; it must answer 200."""
    state = client.app.state  # type: ignore[attr-defined]
    history = state.history.get()
    before = (state.catalog.round_trips.count, history.round_trips.count)
    assert request() == 200
    return Cost(state.catalog.round_trips.count - before[0], history.round_trips.count - before[1])


def test_hot_requests_cost_what_they_did(
    client: TestClient, catalog: Catalog, make_account: Callable[..., Account]
) -> None:
    creator = make_account(Role.CREATOR)
    viewer = make_account()
    videos = [published(catalog, creator.id, f"Video {n}") for n in range(3)]
    video = videos[0].id

    def read() -> int:
        return client.get(f"/api/v1/videos/{video}", headers=viewer.headers).status_code

    def feed() -> int:
        return client.get("/api/v1/videos/feed", headers=viewer.headers).status_code

    def watch() -> int:
        report = {
            "position_s": 30.0,
            "duration_s": 600.0,
            "watched_delta_s": 5.0,
            "session_id": str(uuid.uuid4()),
            "event_type": "progress",
        }
        return client.post(
            f"/api/v1/videos/{video}/watch", json=report, headers=viewer.headers
        ).status_code

    # Nothing cached yet: the session check (2), the video, its stream assets and its caption
    # tracks.
    assert cost(client, read) <= Cost(postgres=5, cassandra=0)
    assert cost(client, read) <= Cost(postgres=0, cassandra=0)
    # The moment, the candidates and the trending ranking, then the page's videos; the viewer's
    # history.
    assert cost(client, feed) <= Cost(postgres=4, cassandra=1)
    assert cost(client, feed) <= Cost(postgres=1, cassandra=1)
    # The video's row (then shared); the viewer's progress, then the progress and the event
    # batches.
    assert cost(client, watch) <= Cost(postgres=1, cassandra=3)
    assert cost(client, watch) <= Cost(postgres=0, cassandra=3)
