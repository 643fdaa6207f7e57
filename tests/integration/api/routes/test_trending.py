"""GET /videos/trending: the engagement pipeline's latest ranking, public videos only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import psycopg
from fastapi.testclient import TestClient

from storage.catalog import Catalog, Role, Visibility
from storage.trending import replace_trending
from tests.fixtures.api import Account
from tests.fixtures.videos import published

TRENDING = "/api/v1/videos/trending"


def test_trending_follows_the_latest_ranked_day(
    client: TestClient,
    catalog: Catalog,
    catalog_dsn: str,
    make_account: Callable[..., Account],
) -> None:
    assert client.get(TRENDING).json() == {"day": None, "items": []}

    owner = make_account(Role.CREATOR)
    first = published(catalog, owner.id, "First")
    second = published(catalog, owner.id, "Second")
    hidden = published(catalog, owner.id, "Hidden", visibility=Visibility.PRIVATE)
    taken = published(catalog, owner.id, "Taken")
    catalog.take_down_video(taken.id, "a rights claim")
    with psycopg.connect(catalog_dsn) as conn:
        replace_trending(conn, date(2026, 11, 1), [(first.id, 9.0, 1), (second.id, 3.0, 2)])
        replace_trending(
            conn,
            date(2026, 11, 2),
            [(taken.id, 12.0, 1), (second.id, 8.0, 2), (hidden.id, 5.0, 3), (first.id, 1.5, 4)],
        )

    response = client.get(TRENDING, params={"limit": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["day"] == "2026-11-02"
    assert [(i["rank"], i["video"]["title"], i["score"]) for i in body["items"]] == [
        (2, "Second", 8.0),
        (4, "First", 1.5),
    ]
    top = client.get(TRENDING, params={"limit": 1}).json()["items"]
    assert [item["video"]["id"] for item in top] == [str(second.id)]
    assert client.get(TRENDING, params={"limit": 0}).status_code == 422
