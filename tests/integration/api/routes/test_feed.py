"""The feed: listable, unfinished, ranked and stably paged, on the real dev stack."""

from __future__ import annotations

import time
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes.feed import SETTLE
from reelflow.settings import Settings
from storage.catalog import Catalog, Video, Visibility
from storage.trending import replace_trending
from tests.fixtures.api import Account
from tests.fixtures.videos import age, published

FEED = "/api/v1/videos/feed"


def comment(catalog: Catalog, video: Video, author: UUID, count: int) -> None:
    for n in range(count):
        catalog.add_comment(video.id, author, f"comment {n}")


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def whole_feed(client: TestClient, account: Account, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(FEED, params=params, headers=account.headers)
        assert response.status_code == 200, response.text
        pages.append(ids(response.json()))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages


def test_the_feed_lists_only_listable_videos(
    client: TestClient, catalog: Catalog, catalog_dsn: str, creator: Account, viewer: Account
) -> None:
    public = published(catalog, creator.id, "Public")
    premium = published(catalog, creator.id, "Premium", visibility=Visibility.PREMIUM)
    hidden = [
        published(catalog, creator.id, "Unlisted", visibility=Visibility.UNLISTED),
        published(catalog, creator.id, "Private", visibility=Visibility.PRIVATE),
        published(catalog, creator.id, "Taken down"),
        catalog.create_video(creator.id, "Not published", visibility=Visibility.PUBLIC),
    ]
    catalog.take_down_video(hidden[2].id, "spam")
    for video in (public, premium, *hidden[:3]):
        age(catalog_dsn, video.id, 1)
    for account in (viewer, creator):
        page = client.get(FEED, headers=account.headers).json()
        assert sorted(ids(page)) == sorted([str(public.id), str(premium.id)])
        assert page["next_cursor"] is None
    assert client.get(FEED).status_code == 401


def test_the_feed_leaves_out_finished_videos(
    client: TestClient, catalog: Catalog, catalog_dsn: str, creator: Account, viewer: Account
) -> None:
    finished, started = (
        published(catalog, creator.id, "Done"),
        published(catalog, creator.id, "Half"),
    )
    for video in (finished, started):
        age(catalog_dsn, video.id, 1)
    for video, position, event in ((finished, 600.0, "ended"), (started, 300.0, "pause")):
        body = {
            "position_s": position,
            "duration_s": 600.0,
            "watched_delta_s": 10.0,
            "session_id": str(uuid4()),
            "event_type": event,
        }
        watched = client.post(f"/api/v1/videos/{video.id}/watch", json=body, headers=viewer.headers)
        assert watched.status_code == 200
    assert ids(client.get(FEED, headers=viewer.headers).json()) == [str(started.id)]
    # Another viewer has finished nothing.
    assert len(ids(client.get(FEED, headers=creator.headers).json())) == 2


def test_the_feed_ranks_recent_and_popular_videos_first(
    client: TestClient, catalog: Catalog, catalog_dsn: str, creator: Account, viewer: Account
) -> None:
    new = published(catalog, creator.id, "New, quiet")
    old = published(catalog, creator.id, "Old, quiet")
    popular = published(catalog, creator.id, "Old, much discussed")
    comment(catalog, popular, viewer.id, 30)
    age(catalog_dsn, new.id, 1)
    age(catalog_dsn, old.id, 72)
    age(catalog_dsn, popular.id, 72)
    page = client.get(FEED, headers=viewer.headers).json()
    assert ids(page) == [str(popular.id), str(new.id), str(old.id)]


def test_feed_pages_have_no_duplicates_or_gaps_while_the_catalog_changes(
    client: TestClient, catalog: Catalog, catalog_dsn: str, creator: Account, viewer: Account
) -> None:
    videos = [published(catalog, creator.id, f"Episode {n}") for n in range(8)]
    for n, video in enumerate(videos):
        comment(catalog, video, creator.id, n % 3)
        # Two videos share every age, so ties of the score are broken by id.
        age(catalog_dsn, video.id, 1 + n // 2)
    [everything] = whole_feed(client, viewer, limit=50)
    assert sorted(everything) == sorted(str(v.id) for v in videos)

    first = client.get(FEED, params={"limit": 3}, headers=viewer.headers).json()
    assert ids(first) == everything[:3]
    # Meanwhile the last video becomes the most discussed and a new one is published: the
    # feed being paged keeps its order, a new feed shows both changes.
    last = next(v for v in videos if str(v.id) == everything[-1])
    comment(catalog, last, viewer.id, 40)
    newest = published(catalog, creator.id, "Breaking")
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(FEED, params={"limit": 3, "cursor": cursor}, headers=viewer.headers)
        rest += ids(page.json())
        cursor = page.json()["next_cursor"]
    assert ids(first) + rest == everything
    time.sleep(SETTLE.total_seconds())
    fresh = ids(client.get(FEED, params={"limit": 50}, headers=viewer.headers).json())
    assert fresh[0] == str(last.id)
    assert str(newest.id) in fresh


def test_feed_pages_keep_the_trending_day_they_started_with(
    api_settings: Settings,
    catalog: Catalog,
    catalog_dsn: str,
    creator: Account,
    viewer: Account,
) -> None:
    # First pages share the latest ranking for `cache_ttl_s`: a short one, to see the next.
    shared_for_s = 0.2
    with TestClient(
        create_app(api_settings.model_copy(update={"cache_ttl_s": shared_for_s}))
    ) as client:
        page_through_a_ranking_change(client, catalog, catalog_dsn, creator, viewer, shared_for_s)


def page_through_a_ranking_change(
    client: TestClient,
    catalog: Catalog,
    catalog_dsn: str,
    creator: Account,
    viewer: Account,
    shared_for_s: float,
) -> None:
    videos = [published(catalog, creator.id, f"Episode {n}") for n in range(6)]
    for n, video in enumerate(videos):
        age(catalog_dsn, video.id, 1 + n)
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        replace_trending(conn, date(2026, 11, 1), [(videos[4].id, 9.0, 1), (videos[5].id, 5.0, 2)])
    [everything] = whole_feed(client, viewer, limit=50)
    assert everything[:2] == [str(videos[4].id), str(videos[5].id)]

    first = client.get(FEED, params={"limit": 2}, headers=viewer.headers).json()
    # The next day's ranking lands while the feed is being paged.
    with psycopg.connect(catalog_dsn, autocommit=True) as conn:
        replace_trending(conn, date(2026, 11, 2), [(videos[0].id, 7.0, 1), (videos[1].id, 6.0, 2)])
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(FEED, params={"limit": 2, "cursor": cursor}, headers=viewer.headers)
        assert page.status_code == 200, page.text
        rest += ids(page.json())
        cursor = page.json()["next_cursor"]
    assert ids(first) + rest == everything
    time.sleep(shared_for_s)
    fresh = ids(client.get(FEED, params={"limit": 50}, headers=viewer.headers).json())
    assert fresh[:2] == [str(videos[0].id), str(videos[1].id)]


@pytest.mark.parametrize("cursor", ["nonsense", "bm9uc2Vuc2U", "WzEsIDIsIDNd", "x" * 501])
def test_an_invalid_feed_cursor_is_422(client: TestClient, viewer: Account, cursor: str) -> None:
    response = client.get(FEED, params={"cursor": cursor}, headers=viewer.headers)
    assert response.status_code == 422
    assert response.json()["code"] in {"invalid_cursor", "invalid_request"}
