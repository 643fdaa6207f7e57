"""Training, checking, promoting and serving the recommendation model, on the real stack.

Two clusters of viewers watch two disjoint sets of ten videos ("cooking" and "football") over
ten days; every viewer watches seven of their cluster's ten, rotated, so every video is
equally popular and only the cluster structure predicts what a viewer watches next. Two of
the viewers are real accounts, so the feed of the API can be asked for them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pandas as pd
import psycopg
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    materialize,
)
from fastapi.testclient import TestClient

from api.main import create_app
from assets.recommendations import MODEL_KEY, promoted_model, recommendation_model
from ml.serving import MODEL_PREFIX
from pipelines.resources import resources_for
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog, Role, Video, Visibility
from storage.engagement import INTERACTIONS, pseudonym, pseudonym_key, write_partition
from storage.objects import LocalObjectStore
from tests.fixtures.api import Account
from tests.fixtures.videos import published

FEED = "/api/v1/videos/feed"
DAYS = 10
PER_CLUSTER = 30
WATCHED = 7


@dataclass
class World:
    settings: Settings
    catalog: Catalog
    store: LocalObjectStore
    videos: dict[str, Video]  # "a0".."a9" cooking, "b0".."b9" football
    viewers: dict[str, Account]  # "a", "b": a real account in each cluster
    instance: DagsterInstance = field(default_factory=DagsterInstance.ephemeral)

    def train(self, *, promote: bool = True, succeed: bool = True) -> ExecuteInProcessResult:
        assets = [recommendation_model, promoted_model] if promote else [recommendation_model]
        result = materialize(
            assets,
            resources=resources_for(self.settings),
            instance=self.instance,
            raise_on_error=False,
        )
        assert result.success == succeed
        return result

    def name_of(self, video_id: str | UUID) -> str:
        return next(name for name, video in self.videos.items() if str(video.id) == str(video_id))


def interaction_rows(users: dict[str, list[str]], videos: dict[str, Video]) -> pd.DataFrame:
    """Each user of cluster c watches WATCHED of its videos, one a day, rotated per user."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    rows = []
    for cluster, members in users.items():
        for u, user in enumerate(members):
            for j in range(WATCHED):
                video = videos[f"{cluster}{(u + j) % 10}"]
                at = today - timedelta(days=DAYS - 1 - (j + u % (DAYS - WATCHED + 1)))
                rows.append(
                    {
                        "user_pseudonym": user,
                        "video_id": str(video.id),
                        "events": 5,
                        "sessions": 1,
                        "watched_s": 540.0,
                        "max_position_s": 600.0,
                        "duration_s": 600.0,
                        "max_progress": 1.0,
                        "completion": 0.9,
                        "viewed": True,
                        "finished": False,
                        "first_watched_at": at,
                        "last_watched_at": at,
                    }
                )
    return pd.DataFrame(rows)


def write_days(store: LocalObjectStore, rows: pd.DataFrame) -> None:
    for day, frame in rows.groupby(rows["last_watched_at"].dt.date):
        write_partition(store, INTERACTIONS, day, frame)


@pytest.fixture
def world(api_settings: Settings, catalog: Catalog, client: TestClient, make_account: Any) -> World:
    settings = api_settings.model_copy(update={"reco_reload_s": 0.1})
    store = connect.object_store(settings)
    owner = make_account(Role.CREATOR)
    videos = {}
    for i in range(10):
        sourdough = i in (3, 7)  # a3 and a7 share a rare tag
        tags = ("cooking", "sourdough" if sourdough else f"dish{i}")
        videos[f"a{i}"] = published(
            catalog, owner.id, f"Cooking show {i}", description="kitchen recipes", tags=tags
        )
        videos[f"b{i}"] = published(
            catalog,
            owner.id,
            f"Football match {i}",
            description="league highlights",
            tags=("football", f"team{i}"),
        )
    # Published an hour ago: past the moment a feed settles on (`SETTLE`).
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute("UPDATE videos SET published_at = published_at - interval '1 hour'")
    viewers = {"a": make_account(), "b": make_account()}
    key = pseudonym_key(settings.analytics_pseudonym_key.get_secret_value())
    users = {
        cluster: [pseudonym(viewers[cluster].id, key)]
        + [pseudonym(uuid.uuid4(), key) for _ in range(PER_CLUSTER - 1)]
        for cluster in "ab"
    }
    write_days(store, interaction_rows(users, videos))
    return World(settings, catalog, store, videos, viewers)


@pytest.fixture
def api(world: World) -> Iterator[TestClient]:
    """The API with the world's settings (fast model reloads), started and stopped."""
    with TestClient(create_app(world.settings)) as client:
        yield client


def feed(api: TestClient, viewer: Account) -> dict[str, Any]:
    response = api.get(FEED, headers=viewer.headers, params={"limit": 50})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_model(api: TestClient, viewer: Account, version: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body = feed(api, viewer)
        if body["model_version"] == version or time.monotonic() > deadline:
            assert body["model_version"] == version
            return body
        time.sleep(0.05)


def version_of(result: ExecuteInProcessResult) -> str:
    event = result.asset_materializations_for_node("recommendation_model")[0]
    return str(event.metadata["version"].value)


def test_the_model_beats_popularity_and_is_promoted(world: World) -> None:
    result = world.train()
    version = version_of(result)
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description
    model_ndcg = check.metadata["ndcg@10"].value
    assert isinstance(model_ndcg, float)
    assert model_ndcg > check.metadata["popularity_ndcg@10"].value + 0.005
    materialization = result.asset_materializations_for_node("recommendation_model")[0]
    evaluation = materialization.metadata["evaluation"].value
    assert isinstance(evaluation, str)
    for model in ("popularity", "trending", "als", "content", "hybrid"):
        assert f"| {model} |" in evaluation
    assert world.store.current_version(MODEL_PREFIX) == version
    keys = world.store.list(f"{MODEL_PREFIX}/{version}")
    for name in ("model.json", "arrays.npz", "evaluation.json", "training.json", "als/model.json"):
        assert f"{MODEL_PREFIX}/{version}/{name}" in keys


def test_the_feed_puts_the_viewers_cluster_first(world: World, api: TestClient) -> None:
    version = version_of(world.train())
    for cluster, viewer in world.viewers.items():
        body = wait_for_model(api, viewer, version)
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
    world: World, api: TestClient, viewer: Account
) -> None:
    version = version_of(world.train())
    wait_for_model(api, viewer, version)
    a3, a7 = world.videos["a3"].id, world.videos["a7"].id
    body = api.get(f"/api/v1/videos/{a3}/similar", params={"limit": 5}).json()
    assert body["model_version"] == version
    names = [world.name_of(item["id"]) for item in body["items"]]
    assert names[0] == "a7" and all(name[0] == "a" for name in names)
    world.catalog.update_video(a7, visibility=Visibility.PRIVATE)
    world.catalog.take_down_video(world.videos["a1"].id, "test")
    names = [
        world.name_of(item["id"])
        for item in api.get(f"/api/v1/videos/{a3}/similar", params={"limit": 9}).json()["items"]
    ]
    assert "a7" not in names and "a1" not in names and len(names) == 7


def test_hidden_and_finished_videos_stay_out_of_the_picks(world: World, api: TestClient) -> None:
    version = version_of(world.train())
    viewer = world.viewers["a"]
    picks = [
        item["id"]
        for item in wait_for_model(api, viewer, version)["items"]
        if item["reason"] == "for_you"
    ]
    hidden, finished = UUID(picks[0]), UUID(picks[1])
    world.catalog.update_video(hidden, visibility=Visibility.UNLISTED)
    report = {
        "position_s": 600.0,
        "duration_s": 600.0,
        "watched_delta_s": 590.0,
        "session_id": str(uuid.uuid4()),
        "event_type": "ended",
    }
    response = api.post(f"/api/v1/videos/{finished}/watch", headers=viewer.headers, json=report)
    assert response.status_code == 200, response.text
    ids = {item["id"] for item in feed(api, viewer)["items"]}
    assert str(hidden) not in ids and str(finished) not in ids
    assert picks[2] in ids


def test_a_viewer_newer_than_the_model_gets_picks_from_what_they_watched(
    world: World, api: TestClient, make_account: Any
) -> None:
    version = version_of(world.train())
    newcomer = make_account()
    assert wait_for_model(api, newcomer, version)["items"][0]["reason"] == "recent"
    report = {
        "position_s": 100.0,
        "duration_s": 600.0,
        "watched_delta_s": 100.0,
        "session_id": str(uuid.uuid4()),
        "event_type": "pause",
    }
    b3 = world.videos["b3"].id
    response = api.post(f"/api/v1/videos/{b3}/watch", headers=newcomer.headers, json=report)
    assert response.status_code == 200, response.text
    picks = [item for item in feed(api, newcomer)["items"] if item["reason"] == "for_you"]
    assert picks and all(world.name_of(item["id"])[0] == "b" for item in picks)
    assert str(b3) not in {item["id"] for item in picks}


def test_a_model_that_does_not_beat_popularity_is_not_promoted(
    world: World, api: TestClient
) -> None:
    first = version_of(world.train())
    strict = world.settings.model_copy(update={"reco_promotion_margin": 1.0})
    world.settings = strict
    result = world.train(succeed=False)  # a failed blocking check fails the run
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and "does not beat popularity" in (check.description or "")
    assert result.asset_materializations_for_node("promoted_model") == []
    assert world.store.current_version(MODEL_PREFIX) == first
    # Promoting it by hand hits the same bar.
    by_hand = materialize(
        [promoted_model],
        resources=resources_for(strict),
        instance=world.instance,
        raise_on_error=False,
    )
    assert not by_hand.success
    assert world.store.current_version(MODEL_PREFIX) == first
    assert world.instance.get_latest_materialization_event(MODEL_KEY) is not None
    assert feed(api, world.viewers["a"])["model_version"] == first


def test_too_few_interactions_fail_the_check(world: World) -> None:
    world.settings = world.settings.model_copy(update={"reco_min_test_users": 1000})
    result = world.train(succeed=False)
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and "viewers to evaluate on" in (check.description or "")
    assert world.store.current_version(MODEL_PREFIX) is None


def test_no_interactions_at_all_fail_the_model(api_settings: Settings, catalog: Catalog) -> None:
    result = materialize(
        [recommendation_model, promoted_model],
        resources=resources_for(api_settings),
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("recommendation_model")
    assert failure is not None and "no viewing interactions" in str(failure.error)


def test_hot_reload_switches_versions_while_requests_keep_succeeding(
    world: World, api: TestClient
) -> None:
    viewer = world.viewers["b"]
    first = version_of(world.train())
    wait_for_model(api, viewer, first)
    statuses: list[int] = []
    versions: list[str | None] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            response = api.get(FEED, headers=viewer.headers)
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
    world: World, api: TestClient
) -> None:
    viewer = world.viewers["a"]
    first = version_of(world.train())
    wait_for_model(api, viewer, first)
    page1 = api.get(FEED, headers=viewer.headers, params={"limit": 4}).json()
    second = version_of(world.train())
    wait_for_model(api, viewer, second)
    ids = [item["id"] for item in page1["items"]]
    cursor = page1["next_cursor"]
    while cursor:
        page = api.get(FEED, headers=viewer.headers, params={"limit": 4, "cursor": cursor}).json()
        assert page["model_version"] == first
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(ids) == len(set(ids)) == 2 * 10
    fresh = feed(api, viewer)
    assert fresh["model_version"] == second
    assert world.instance.get_latest_materialization_event(AssetKey("promoted_model"))
