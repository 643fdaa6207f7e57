"""GET /analytics/...: a video's or channel's figures from the daily datasets in the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient

from reelflow import connect
from reelflow.settings import Settings
from storage.analytics import COMMUNITY, PLAYBACK_QUALITY, PLAYBACK_QUALITY_OVERALL
from storage.catalog import Catalog, Role, Visibility
from storage.engagement import ENGAGEMENT
from tests.fixtures.analytics import VideoDay, seed_videos, write_day
from tests.fixtures.api import Account
from tests.fixtures.videos import published

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
RANGE = {"from": "2026-11-01", "to": "2026-11-03"}


def figures(views: int, likes: int, plays: int, ttff_median_ms: float) -> VideoDay:
    return VideoDay(
        views=views,
        unique_viewers=views + 1,
        watched_s=views * 60.0,
        avg_completion=0.5,
        likes=likes,
        dislikes=1,
        likes_added=1,
        dislikes_added=0,
        playlist_adds=2,
        plays=plays,
        video_start_failures=1,
        exits_before_start=0,
        ttff_median_ms=ttff_median_ms,
        ttff_p95_ms=ttff_median_ms * 3,
        rebuffer_ratio=0.01,
        avg_bitrate_kbps=1200.0,
        rendition_switches=3,
    )


@pytest.fixture
def channel(api_settings: Settings, catalog: Catalog, creator: Account) -> tuple[str, str, str]:
    """The creator's two videos and someone else's, with days 1 and 3 aggregated (not 2)."""
    mine = published(catalog, creator.id, "Mine").id
    private = published(catalog, creator.id, "Also mine", visibility=Visibility.PRIVATE).id
    someone = catalog.create_user(f"someone-{creator.id}@example.com", "x", role=Role.CREATOR)
    theirs = published(catalog, someone.id, "Theirs").id
    store = connect.object_store(api_settings)
    seed_videos(
        store,
        D1,
        {
            str(mine): figures(10, 4, 12, 500.0),
            str(private): figures(2, 1, 4, 900.0),
            str(theirs): figures(1000, 900, 1000, 100.0),
        },
    )
    seed_videos(store, D3, {str(mine): figures(5, 6, 6, 800.0)})
    return str(mine), str(private), str(theirs)


def test_a_creator_reads_a_videos_days_and_totals(
    client: TestClient, creator: Account, channel: tuple[str, str, str]
) -> None:
    mine, _, _ = channel

    response = client.get(f"/api/v1/analytics/videos/{mine}", params=RANGE, headers=creator.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["scope"], body["video_id"], body["from"], body["to"]) == (
        "video",
        mine,
        "2026-11-01",
        "2026-11-03",
    )
    assert [video["title"] for video in body["videos"]] == ["Mine"]
    assert [(d["day"], d["views"], d["likes"]) for d in body["days"]] == [
        ("2026-11-01", 10, 4),
        ("2026-11-02", None, None),
        ("2026-11-03", 5, 6),
    ]
    assert body["days_missing"] == {
        ENGAGEMENT: ["2026-11-02"],
        COMMUNITY: ["2026-11-02"],
        PLAYBACK_QUALITY: ["2026-11-02"],
    }
    totals = body["totals"]
    assert (totals["views"], totals["unique_viewers_summed"], totals["watched_s"]) == (
        15,
        17,
        900.0,
    )
    assert (totals["likes"], totals["ratings_as_of"], totals["likes_added"]) == (
        6,
        "2026-11-03",
        2,
    )
    assert (totals["plays"], totals["video_start_failures"], totals["rendition_switches"]) == (
        18,
        2,
        6,
    )
    assert totals["ttff_median_ms"] == pytest.approx((12 * 500 + 6 * 800) / 18)


def test_a_channel_adds_up_its_own_videos_only(
    client: TestClient, creator: Account, admin: Account, channel: tuple[str, str, str]
) -> None:
    mine, private, _ = channel

    own = client.get("/api/v1/analytics/channels/me", params=RANGE, headers=creator.headers)
    by_admin = client.get(
        f"/api/v1/analytics/channels/{creator.id}", params=RANGE, headers=admin.headers
    )

    assert own.status_code == by_admin.status_code == 200, own.text
    body = own.json()
    assert body == by_admin.json()
    assert (body["scope"], body["creator_id"]) == ("channel", str(creator.id))
    assert {video["id"] for video in body["videos"]} == {mine, private}
    assert body["days"][0]["views"] == 12 and body["days"][0]["plays"] == 16
    assert body["totals"]["views"] == 17
    assert body["totals"]["likes"] == 6


def test_other_callers_get_nothing_of_a_creators_figures(
    client: TestClient,
    make_account: Callable[..., Account],
    viewer: Account,
    creator: Account,
    channel: tuple[str, str, str],
) -> None:
    mine, private, theirs = channel
    other_creator = make_account(Role.CREATOR)
    # The answers the creator reads are shared through Redis: nobody else gets them from there.
    for path in (f"/api/v1/analytics/videos/{mine}", f"/api/v1/analytics/channels/{creator.id}"):
        assert client.get(path, params=RANGE, headers=creator.headers).status_code == 200

    def status(path: str, account: Account | None) -> tuple[int, str]:
        headers = account.headers if account else {}
        response = client.get(path, params=RANGE, headers=headers)
        return response.status_code, response.json()["code"]

    assert status(f"/api/v1/analytics/videos/{mine}", None) == (401, "unauthorized")
    assert status(f"/api/v1/analytics/videos/{mine}", other_creator) == (403, "forbidden")
    assert status(f"/api/v1/analytics/videos/{private}", other_creator) == (404, "not_found")
    assert status(f"/api/v1/analytics/videos/{theirs}", viewer) == (403, "forbidden")
    assert status(f"/api/v1/analytics/channels/{creator.id}", other_creator) == (
        403,
        "forbidden",
    )
    assert status("/api/v1/analytics/channels/me", viewer) == (403, "creators_only")
    assert status("/api/v1/analytics/overview", other_creator) == (403, "forbidden")


def test_an_admin_reads_any_video_and_the_platforms_playback_quality(
    client: TestClient, admin: Account, api_settings: Settings, channel: tuple[str, str, str]
) -> None:
    _, _, theirs = channel
    store = connect.object_store(api_settings)
    write_day(
        store,
        PLAYBACK_QUALITY_OVERALL,
        D2,
        [
            {
                "plays": 40,
                "video_start_failures": 2,
                "exits_before_start": 3,
                "ttff_median_ms": 450.0,
                "ttff_p95_ms": 1500.0,
                "rebuffer_ratio": 0.02,
                "avg_bitrate_kbps": 2100.0,
                "rendition_switches": 9,
            }
        ],
    )

    video = client.get(f"/api/v1/analytics/videos/{theirs}", params=RANGE, headers=admin.headers)
    overview = client.get("/api/v1/analytics/overview", params=RANGE, headers=admin.headers)

    assert video.status_code == overview.status_code == 200, overview.text
    assert video.json()["totals"]["views"] == 1000
    body = overview.json()
    assert body["scope"] == "overall" and body["videos"] == []
    # Engagement over every video; playback quality from the overall dataset only.
    assert body["days"][0]["views"] == 1012 and body["days"][0]["plays"] is None
    assert (body["days"][1]["plays"], body["days"][1]["ttff_p95_ms"]) == (40, 1500.0)
    assert body["days_missing"][PLAYBACK_QUALITY_OVERALL] == ["2026-11-01", "2026-11-03"]
    assert body["totals"]["exits_before_start"] == 3


def test_bad_ranges_are_refused_with_their_code(client: TestClient, creator: Account) -> None:
    def code(params: dict[str, str]) -> tuple[int, str]:
        response = client.get(
            "/api/v1/analytics/channels/me", params=params, headers=creator.headers
        )
        return response.status_code, response.json()["code"]

    assert code({"from": "2026-11-03", "to": "2026-11-01"}) == (422, "invalid_range")
    assert code({"from": "2025-01-01", "to": "2026-01-02"}) == (422, "range_too_long")
    assert code({"from": "2026-11-01"}) == (422, "invalid_request")
    assert code({"from": "2026-13-01", "to": "2026-11-02"}) == (422, "invalid_request")


def test_a_channel_with_nothing_aggregated_reads_every_day_missing(
    client: TestClient, creator: Account
) -> None:
    response = client.get(
        "/api/v1/analytics/channels/me",
        params={"from": "2026-11-01", "to": "2026-11-02"},
        headers=creator.headers,
    )

    assert response.status_code == 200
    body = response.json()
    assert body["videos"] == [] and body["totals"]["views"] == 0
    assert all(days == ["2026-11-01", "2026-11-02"] for days in body["days_missing"].values())
