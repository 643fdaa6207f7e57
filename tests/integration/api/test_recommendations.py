"""The promoted recommendation model as the API serves it: picks for each viewer in the feed,
similar videos, hot reloads between requests, and pages that stay on the model they began on."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any
from uuid import UUID

from dagster import AssetKey
from fastapi.testclient import TestClient

from storage.catalog import Visibility
from tests.fixtures.api import Account
from tests.fixtures.recommendations import (
    FEED,
    WATCHED,
    World,
    feed,
    version_of,
    wait_for_model,
)


def watch(
    api: TestClient,
    viewer: Account,
    video_id: UUID,
    *,
    position_s: float,
    watched_delta_s: float,
    event: str,
) -> None:
    """One player report of the viewer on a 600 s video, as the player sends it."""
    report = {
        "position_s": position_s,
        "duration_s": 600.0,
        "watched_delta_s": watched_delta_s,
        "session_id": str(uuid.uuid4()),
        "event_type": event,
    }
    response = api.post(f"/api/v1/videos/{video_id}/watch", headers=viewer.headers, json=report)
    assert response.status_code == 200, response.text


def test_the_feed_puts_the_viewers_cluster_first(world: World, reco_api: TestClient) -> None:
    version = version_of(world.train())
    for cluster, viewer in world.viewers.items():
        body = wait_for_model(reco_api, viewer, version)
        reasons = [item["reason"] for item in body["items"]]
        names = [world.name_of(item["id"]) for item in body["items"]]
        # First the cluster's videos the viewer has not watched, then the other cluster's...
        assert reasons[: 2 * 10 - WATCHED] == ["for_you"] * (2 * 10 - WATCHED)
        assert {name[0] for name in names[: 10 - WATCHED]} == {cluster}
        assert cluster not in {name[0] for name in names[10 - WATCHED : 2 * 10 - WATCHED]}
        # ...then, by recency, what they watched but did not finish: nothing twice, nothing lost.
        assert set(reasons[2 * 10 - WATCHED :]) == {"recent"}
        assert len(names) == len(set(names)) == 2 * 10


def test_similar_videos_share_tags_and_skip_unlistable_ones(
    world: World, reco_api: TestClient, viewer: Account
) -> None:
    version = version_of(world.train())
    wait_for_model(reco_api, viewer, version)
    a3, a7 = world.videos["a3"].id, world.videos["a7"].id
    body = reco_api.get(f"/api/v1/videos/{a3}/similar", params={"limit": 5}).json()
    assert body["model_version"] == version
    names = [world.name_of(item["id"]) for item in body["items"]]
    assert names[0] == "a7" and all(name[0] == "a" for name in names)
    world.catalog.update_video(a7, visibility=Visibility.PRIVATE)
    world.catalog.take_down_video(world.videos["a1"].id, "test")
    similar = reco_api.get(f"/api/v1/videos/{a3}/similar", params={"limit": 9}).json()
    names = [world.name_of(item["id"]) for item in similar["items"]]
    assert "a7" not in names and "a1" not in names and len(names) == 7


def test_hidden_and_finished_videos_stay_out_of_the_picks(
    world: World, reco_api: TestClient
) -> None:
    version = version_of(world.train())
    viewer = world.viewers["a"]
    picks = [
        item["id"]
        for item in wait_for_model(reco_api, viewer, version)["items"]
        if item["reason"] == "for_you"
    ]
    hidden, finished = UUID(picks[0]), UUID(picks[1])
    world.catalog.update_video(hidden, visibility=Visibility.UNLISTED)
    watch(reco_api, viewer, finished, position_s=600.0, watched_delta_s=590.0, event="ended")
    ids = {item["id"] for item in feed(reco_api, viewer)["items"]}
    assert str(hidden) not in ids and str(finished) not in ids
    assert picks[2] in ids


def test_a_viewer_newer_than_the_model_gets_picks_from_what_they_watched(
    world: World, reco_api: TestClient, make_account: Any
) -> None:
    version = version_of(world.train())
    newcomer = make_account()
    assert wait_for_model(reco_api, newcomer, version)["items"][0]["reason"] == "recent"
    b3 = world.videos["b3"].id
    watch(reco_api, newcomer, b3, position_s=100.0, watched_delta_s=100.0, event="pause")
    picks = [item for item in feed(reco_api, newcomer)["items"] if item["reason"] == "for_you"]
    assert picks and all(world.name_of(item["id"])[0] == "b" for item in picks)
    assert str(b3) not in {item["id"] for item in picks}


def test_hot_reload_switches_versions_while_requests_keep_succeeding(
    world: World, reco_api: TestClient
) -> None:
    viewer = world.viewers["b"]
    first = version_of(world.train())
    wait_for_model(reco_api, viewer, first)
    statuses: list[int] = []
    versions: list[str | None] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            response = reco_api.get(FEED, headers=viewer.headers)
            statuses.append(response.status_code)
            versions.append(response.json().get("model_version"))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        second = version_of(world.train())
        deadline = time.monotonic() + 30
        while second not in versions and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    assert second != first
    assert statuses and set(statuses) == {200}
    assert versions[0] == first and versions[-1] == second
    switch = versions.index(second)
    assert set(versions[:switch]) == {first} and set(versions[switch:]) == {second}


def test_a_feed_started_before_a_promotion_pages_on_its_model(
    world: World, reco_api: TestClient
) -> None:
    viewer = world.viewers["a"]
    first = version_of(world.train())
    wait_for_model(reco_api, viewer, first)
    page1 = reco_api.get(FEED, headers=viewer.headers, params={"limit": 4}).json()
    second = version_of(world.train())
    wait_for_model(reco_api, viewer, second)
    ids = [item["id"] for item in page1["items"]]
    cursor = page1["next_cursor"]
    while cursor:
        page = reco_api.get(
            FEED, headers=viewer.headers, params={"limit": 4, "cursor": cursor}
        ).json()
        assert page["model_version"] == first
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(ids) == len(set(ids)) == 2 * 10
    fresh = feed(reco_api, viewer)
    assert fresh["model_version"] == second
    assert world.instance.get_latest_materialization_event(AssetKey("promoted_model"))
