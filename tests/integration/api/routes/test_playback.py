"""Playback quality reports on the real dev stack: what a batch stores in Cassandra, who may
send one, what a bad batch answers, and that sending a batch again stores nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from cassandra.cluster import Session
from fastapi.testclient import TestClient

from api.main import create_app
from reelflow.settings import Settings
from storage.catalog import Catalog, Visibility
from storage.history import History
from storage.playback import PlaybackLog, playback_log
from tests.fixtures.api import Account
from tests.fixtures.videos import published

EVENTS = "/api/v1/playback/events"


@pytest.fixture
def log(cassandra_session: Session, api_settings: Settings) -> PlaybackLog:
    history = History(
        cassandra_session,
        api_settings.cassandra_keyspace,
        buckets=api_settings.cassandra_event_buckets,
    )
    return playback_log(history)


def event(session: UUID, video: UUID, kind: str, seq: int, t: int, **values: Any) -> dict[str, Any]:
    ids = {"session_id": str(session), "video_id": str(video)}
    return ids | {"type": kind, "seq": seq, "t": t} | values


def start_of_a_session(session: UUID, video: UUID) -> list[dict[str, Any]]:
    return [
        event(session, video, "session_start", 0, 0),
        event(session, video, "first_frame", 1, 640),
        event(session, video, "rendition_switch", 2, 3000, bitrate_kbps=1200.0),
        event(session, video, "heartbeat", 3, 10_000, playing_s=9.25, bitrate_kbps=1200.0),
    ]


def test_an_anonymous_batch_is_stored_with_the_servers_time(
    client: TestClient, catalog: Catalog, creator: Account, log: PlaybackLog
) -> None:
    video = published(catalog, creator.id, "Storm over the bay")
    session = uuid4()
    before = datetime.now(UTC).replace(microsecond=0)
    response = client.post(EVENTS, json={"events": start_of_a_session(session, video.id)})
    assert response.status_code == 202, response.text
    assert response.json() == {"events": 4, "sessions": 1}

    stored = log.events_of_session(session)
    assert [(e.seq, e.event_type, e.t_ms) for e in stored] == [
        (0, "session_start", 0),
        (1, "first_frame", 640),
        (2, "rendition_switch", 3000),
        (3, "heartbeat", 10_000),
    ]
    assert {e.video_id for e in stored} == {video.id}
    assert (stored[2].bitrate_kbps, stored[3].playing_s, stored[3].bitrate_kbps) == (
        1200.0,
        9.25,
        1200.0,
    )
    assert stored[0].playing_s is None and stored[0].error_code is None
    # One server time for the batch, whatever clock the player has.
    assert len({e.received_at for e in stored}) == 1
    assert before <= stored[0].received_at <= datetime.now(UTC)
    assert stored[0].day == log.session_day(session) == stored[0].received_at.date()


def test_a_batch_sent_again_stores_each_event_once(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account, log: PlaybackLog
) -> None:
    video = published(catalog, creator.id, "Retries")
    session = uuid4()
    batch = {"events": start_of_a_session(session, video.id)}
    for _ in range(2):
        response = client.post(EVENTS, json=batch, headers=viewer.headers)
        assert response.status_code == 202, response.text
    later = {"events": [event(session, video.id, "end", 4, 12_000, playing_s=2.0)]}
    assert client.post(EVENTS, json=later, headers=viewer.headers).status_code == 202
    assert [e.seq for e in log.events_of_session(session)] == [0, 1, 2, 3, 4]


def test_a_bad_event_refuses_the_whole_batch_and_names_it(
    client: TestClient, catalog: Catalog, creator: Account, log: PlaybackLog
) -> None:
    video = published(catalog, creator.id, "Strict")
    session = uuid4()
    events = start_of_a_session(session, video.id)
    events[2] = event(session, video.id, "rendition_switch", 2, 3000, bitrate_kbps=-5)
    response = client.post(EVENTS, json={"events": events})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert [d["loc"][:3] for d in body["details"]] == [["body", "events", 2]]
    assert body["details"][0]["loc"][-1] == "bitrate_kbps"
    assert log.events_of_session(session) == []
    assert log.session_day(session) is None


def test_a_batch_holds_at_most_a_hundred_events(
    client: TestClient, catalog: Catalog, creator: Account, log: PlaybackLog
) -> None:
    video = published(catalog, creator.id, "Long")
    session = uuid4()
    beats = [
        event(session, video.id, "heartbeat", n, n * 10_000, playing_s=10.0) for n in range(101)
    ]
    too_many = client.post(EVENTS, json={"events": beats})
    assert too_many.status_code == 422
    assert too_many.json()["details"][0]["loc"] == ["body", "events"]
    assert log.events_of_session(session) == []
    assert client.post(EVENTS, json={"events": beats[:100]}).json() == {
        "events": 100,
        "sessions": 1,
    }
    assert len(log.events_of_session(session)) == 100


def test_only_videos_the_caller_may_see_take_reports(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account, log: PlaybackLog
) -> None:
    private = published(catalog, creator.id, "Drafts", visibility=Visibility.PRIVATE)
    public = published(catalog, creator.id, "Out there")
    session, other = uuid4(), uuid4()
    batch = {
        "events": [
            event(other, public.id, "session_start", 0, 0),
            event(session, private.id, "session_start", 0, 0),
        ]
    }
    for headers in ({}, viewer.headers):
        refused = client.post(EVENTS, json=batch, headers=headers)
        assert refused.status_code == 404
        assert refused.json()["code"] == "not_found"
    # Refused whole: not even the public video's event was kept.
    assert log.events_of_session(other) == []
    unknown = {"events": [event(uuid4(), uuid4(), "session_start", 0, 0)]}
    assert client.post(EVENTS, json=unknown).status_code == 404
    owned = client.post(EVENTS, json=batch, headers=creator.headers)
    assert owned.json() == {"events": 2, "sessions": 2}
    assert [e.video_id for e in log.events_of_session(session)] == [private.id]


@pytest.fixture
def limited_client(api_settings: Settings, catalog: Catalog) -> Iterator[TestClient]:
    settings = api_settings.model_copy(update={"rate_limits": {"playback:address": "2/60"}})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_reports_are_rate_limited_per_address(
    limited_client: TestClient, catalog: Catalog, creator: Account
) -> None:
    video = published(catalog, creator.id, "Busy")
    statuses = [
        limited_client.post(
            EVENTS, json={"events": [event(uuid4(), video.id, "session_start", 0, 0)]}
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [202, 202, 429]
