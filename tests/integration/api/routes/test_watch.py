"""Watch reports and "continue watching" on the real dev stack, and the API with Cassandra down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from portpicker import pick_unused_port

from api.main import create_app
from reelflow.settings import Settings
from storage.catalog import (
    BillingInterval,
    Catalog,
    SubscriptionStatus,
    Visibility,
)
from tests.fixtures.api import Account
from tests.fixtures.videos import published

MakeAccount = Callable[..., Account]


def report(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "position_s": 120.0,
        "duration_s": 600.0,
        "watched_delta_s": 10.0,
        "session_id": str(uuid4()),
        "event_type": "progress",
        "client": "web",
    }
    return {**body, **changes}


def watch_url(video_id: UUID) -> str:
    return f"/api/v1/videos/{video_id}/watch"


HISTORY = "/api/v1/users/me/history"


def test_a_report_records_progress_and_continue_watching(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    video = published(catalog, creator.id, "Sourdough at home")
    session = str(uuid4())
    first = client.post(
        watch_url(video.id), json=report(session_id=session), headers=viewer.headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["position_s"] == 120.0
    assert first.json()["watched_s"] == 10.0
    assert first.json()["finished"] is False

    second = client.post(
        watch_url(video.id),
        json=report(session_id=session, position_s=130.0, watched_delta_s=1.0, event_type="pause"),
        headers=viewer.headers,
    )
    assert second.json()["watched_s"] == 11.0

    history = client.get(HISTORY, headers=viewer.headers)
    assert history.status_code == 200
    [item] = history.json()["items"]
    assert item["video"]["id"] == str(video.id)
    assert item["video"]["title"] == "Sourdough at home"
    assert item["video"]["thumbnail_url"] == f"https://cdn.example/{video.id}/poster.jpg"
    assert item["position_s"] == 130.0
    # Another user's history is their own.
    other = client.get(HISTORY, headers=creator.headers)
    assert other.json()["items"] == []


def test_watch_time_cannot_outgrow_the_video_or_the_clock(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    video = published(catalog, creator.id, "Ten minutes of rain", duration_s=600.0)
    session = str(uuid4())
    inflated = report(session_id=session, position_s=599.0, duration_s=1e9, watched_delta_s=1e9)
    first = client.post(watch_url(video.id), json=inflated, headers=viewer.headers)
    assert first.status_code == 200, first.text
    # The catalog's duration, and no more of it played than it lasts.
    assert (first.json()["duration_s"], first.json()["watched_s"]) == (600.0, 600.0)
    # A moment later, another whole video's worth: only what the clock allows is added.
    second = client.post(
        watch_url(video.id),
        json=report(session_id=session, position_s=10.0, watched_delta_s=600.0),
        headers=viewer.headers,
    )
    assert 600.0 < second.json()["watched_s"] < 700.0


def test_continue_watching_is_newest_first_and_leaves_out_finished_videos(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    first, second, third = (published(catalog, creator.id, f"Part {n}") for n in (1, 2, 3))
    for video in (first, second, third):
        response = client.post(watch_url(video.id), json=report(), headers=viewer.headers)
        assert response.status_code == 200
    ended = client.post(
        watch_url(second.id),
        json=report(position_s=600.0, event_type="ended"),
        headers=viewer.headers,
    )
    assert ended.json()["finished"] is True
    items = client.get(HISTORY, headers=viewer.headers).json()["items"]
    assert [item["video"]["id"] for item in items] == [str(third.id), str(first.id)]
    limited = client.get(HISTORY, params={"limit": 1}, headers=viewer.headers).json()
    assert [item["video"]["id"] for item in limited["items"]] == [str(third.id)]


def test_continue_watching_skips_videos_that_are_no_longer_visible(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    kept, hidden, removed = (published(catalog, creator.id, f"Video {n}") for n in (1, 2, 3))
    for video in (kept, hidden, removed):
        client.post(watch_url(video.id), json=report(), headers=viewer.headers)
    catalog.update_video(hidden.id, visibility=Visibility.PRIVATE)
    catalog.take_down_video(removed.id, "copyright claim")
    items = client.get(HISTORY, headers=viewer.headers).json()["items"]
    assert [item["video"]["id"] for item in items] == [str(kept.id)]


def test_reports_only_for_videos_the_caller_can_see(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    private = published(catalog, creator.id, "Drafts", visibility=Visibility.PRIVATE)
    unlisted = published(catalog, creator.id, "Link only", visibility=Visibility.UNLISTED)
    taken_down = published(catalog, creator.id, "Gone")
    catalog.take_down_video(taken_down.id, "abuse")
    for video_id in (private.id, taken_down.id, uuid4()):
        response = client.post(watch_url(video_id), json=report(), headers=viewer.headers)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not_found"
    assert client.post(watch_url(unlisted.id), json=report(), headers=viewer.headers).is_success
    # The owner sees their private video.
    assert client.post(watch_url(private.id), json=report(), headers=creator.headers).is_success
    assert client.post(watch_url(unlisted.id), json=report()).status_code == 401


def test_premium_reports_need_a_subscription(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    premium = published(catalog, creator.id, "Masterclass", visibility=Visibility.PREMIUM)
    refused = client.post(watch_url(premium.id), json=report(), headers=viewer.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_entitled"
    catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=999,
        currency="usd",
        interval=BillingInterval.MONTH,
    )
    catalog.create_subscription(
        viewer.id, "premium-monthly", "sub_test", status=SubscriptionStatus.ACTIVE
    )
    assert client.post(watch_url(premium.id), json=report(), headers=viewer.headers).is_success


@pytest.mark.parametrize(
    "changes",
    [
        {"position_s": -1},
        {"position_s": 700.0},
        {"duration_s": 0},
        {"watched_delta_s": -5},
        {"watched_delta_s": 601.0},
        {"event_type": "rewind"},
        {"session_id": "not-a-uuid"},
        {"client": "x" * 101},
        {"position_s": "ten"},
    ],
)
def test_invalid_reports_are_422(
    client: TestClient,
    catalog: Catalog,
    creator: Account,
    viewer: Account,
    changes: dict[str, Any],
) -> None:
    video = published(catalog, creator.id, "Validation")
    response = client.post(watch_url(video.id), json=report(**changes), headers=viewer.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"


def test_a_missing_field_is_422(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    video = published(catalog, creator.id, "Validation")
    body = report()
    del body["session_id"]
    response = client.post(watch_url(video.id), json=body, headers=viewer.headers)
    assert response.status_code == 422


def test_with_cassandra_down_history_is_503_and_the_rest_works(
    api_settings: Settings, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    video = published(catalog, creator.id, "Still listed")
    broken = api_settings.model_copy(update={"cassandra_port": pick_unused_port()})
    with TestClient(create_app(broken)) as down:
        response = down.post(watch_url(video.id), json=report(), headers=viewer.headers)
        assert response.status_code == 503
        assert response.json()["code"] == "history_unavailable"
        history = down.get(HISTORY, headers=viewer.headers)
        assert history.status_code == 503

        assert down.get(f"/api/v1/videos/{video.id}/comments").status_code == 200
        assert down.get("/api/v1/search", params={"q": "listed"}).json()["items"]
        # The feed goes on without history: it only cannot leave finished videos out.
        assert down.get("/api/v1/videos/feed", headers=viewer.headers).status_code == 200
