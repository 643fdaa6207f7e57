"""Playlists and watch later through the API: ownership, visibility and order, on the dev stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from storage.catalog import Catalog, Video, Visibility
from tests.fixtures.api import Account
from tests.fixtures.videos import published

MakeAccount = Callable[..., Account]
PLAYLISTS = "/api/v1/playlists"
WATCH_LATER = "/api/v1/users/me/watch-later"


def create(client: TestClient, owner: Account, **body: Any) -> dict[str, Any]:
    response = client.post(PLAYLISTS, json={"title": "Mine", **body}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def add(client: TestClient, owner: Account, playlist_id: str, video_id: UUID) -> int:
    return client.post(
        f"{PLAYLISTS}/{playlist_id}/items", json={"video_id": str(video_id)}, headers=owner.headers
    ).status_code


def titles(page: dict[str, Any]) -> list[str]:
    return [item["video"]["title"] for item in page["items"]]


@pytest.fixture
def videos(catalog: Catalog, creator: Account) -> list[Video]:
    return [published(catalog, creator.id, f"Video {n}") for n in range(3)]


def test_owner_builds_and_orders_a_list(
    client: TestClient, viewer: Account, videos: list[Video]
) -> None:
    playlist = create(client, viewer, description="for the weekend")
    for video in videos:
        assert add(client, viewer, playlist["id"], video.id) == 201
    url = f"{PLAYLISTS}/{playlist['id']}"

    moved = client.patch(
        f"{url}/items/{videos[2].id}", json={"position": 0}, headers=viewer.headers
    )
    assert moved.json()["position"] == 0
    assert titles(client.get(url, headers=viewer.headers).json()) == [
        "Video 2",
        "Video 0",
        "Video 1",
    ]
    assert client.delete(f"{url}/items/{videos[0].id}", headers=viewer.headers).status_code == 204
    page = client.get(url, headers=viewer.headers).json()
    assert [i["position"] for i in page["items"]] == [0, 1]
    assert page["playlist"]["item_count"] == 2

    again = client.post(
        f"{url}/items", json={"video_id": str(videos[1].id)}, headers=viewer.headers
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_in_playlist")
    renamed = client.patch(url, json={"title": "Renamed"}, headers=viewer.headers).json()
    assert (renamed["title"], renamed["description"]) == ("Renamed", "for the weekend")
    listed = client.get("/api/v1/users/me/playlists", headers=viewer.headers).json()
    assert [p["title"] for p in listed["items"]] == ["Renamed"]
    assert client.delete(url, headers=viewer.headers).status_code == 204
    assert client.get(url, headers=viewer.headers).status_code == 404


def test_pages_follow_the_list_order(
    client: TestClient, viewer: Account, videos: list[Video]
) -> None:
    playlist = create(client, viewer)
    for video in videos:
        add(client, viewer, playlist["id"], video.id)
    url = f"{PLAYLISTS}/{playlist['id']}"

    first = client.get(url, params={"page_size": 2}, headers=viewer.headers).json()
    second = client.get(url, params={"page_size": 2, "page": 2}, headers=viewer.headers).json()

    assert (titles(first), first["has_more"]) == (["Video 0", "Video 1"], True)
    assert (titles(second), second["has_more"]) == (["Video 2"], False)


def test_private_lists_are_404_to_everyone_else_and_public_ones_read_only(
    client: TestClient, viewer: Account, make_account: MakeAccount, videos: list[Video]
) -> None:
    other = make_account()
    private = create(client, viewer)
    public = create(client, viewer, visibility="public")
    add(client, viewer, public["id"], videos[0].id)

    for headers in ({}, other.headers):
        hidden = client.get(f"{PLAYLISTS}/{private['id']}", headers=headers)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
        assert titles(client.get(f"{PLAYLISTS}/{public['id']}", headers=headers).json()) == [
            "Video 0"
        ]
    for playlist, expected in ((private, 404), (public, 403)):
        url = f"{PLAYLISTS}/{playlist['id']}"
        assert client.patch(url, json={"title": "x"}, headers=other.headers).status_code == expected
        assert add(client, other, playlist["id"], videos[1].id) == expected
        assert client.delete(url, headers=other.headers).status_code == expected
    assert client.post(PLAYLISTS, json={"title": "x"}).status_code == 401
    assert client.get(f"{PLAYLISTS}/{uuid4()}").status_code == 404


def test_a_list_shows_each_reader_only_the_videos_they_may_see(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account, videos: list[Video]
) -> None:
    private = published(catalog, creator.id, "Secret", visibility=Visibility.PRIVATE)
    public = create(client, creator, visibility="public")
    add(client, creator, public["id"], private.id)
    add(client, creator, public["id"], videos[0].id)
    url = f"{PLAYLISTS}/{public['id']}"

    assert titles(client.get(url, headers=creator.headers).json()) == ["Secret", "Video 0"]
    assert titles(client.get(url).json()) == ["Video 0"]
    # Nobody lists a video they may not see themselves.
    mine = create(client, viewer)
    assert add(client, viewer, mine["id"], private.id) == 404
    assert add(client, viewer, mine["id"], uuid4()) == 404


def test_watch_later_is_made_on_first_use_and_stays_private(
    client: TestClient, catalog: Catalog, viewer: Account, videos: list[Video]
) -> None:
    empty = client.get(WATCH_LATER, headers=viewer.headers).json()
    assert (empty["playlist"]["kind"], empty["items"]) == ("watch_later", [])

    saved = client.post(WATCH_LATER, json={"video_id": str(videos[1].id)}, headers=viewer.headers)
    assert saved.status_code == 201
    later = client.get(WATCH_LATER, headers=viewer.headers).json()
    assert titles(later) == ["Video 1"]
    assert later["playlist"]["id"] == empty["playlist"]["id"]
    url = f"{PLAYLISTS}/{later['playlist']['id']}"
    for change in (
        client.patch(url, json={"visibility": "public"}, headers=viewer.headers),
        client.delete(url, headers=viewer.headers),
    ):
        assert (change.status_code, change.json()["code"]) == (409, "watch_later_fixed")
    assert client.get(url).status_code == 404

    exported = client.get("/api/v1/users/me/export", headers=viewer.headers).json()
    assert [[i["video_id"] for i in p["items"]] for p in exported["playlists"]] == [
        [str(videos[1].id)]
    ]
    # Its items come out like any list's, by the list's id.
    gone = client.delete(f"{url}/items/{videos[1].id}", headers=viewer.headers)
    assert gone.status_code == 204
    assert client.delete(f"{url}/items/{videos[1].id}", headers=viewer.headers).status_code == 404
    assert client.get(WATCH_LATER, headers=viewer.headers).json()["items"] == []

    client.post(WATCH_LATER, json={"video_id": str(videos[0].id)}, headers=viewer.headers)
    assert client.delete("/api/v1/users/me", headers=viewer.headers).status_code == 204
    assert catalog.list_playlists(viewer.id) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "x" * 201},
        {"title": "ok", "visibility": "friends"},
        {"title": "ok", "extra": 1},
        {"title": "nul\x00"},
    ],
)
def test_bad_playlists_are_refused(
    client: TestClient, catalog: Catalog, viewer: Account, body: dict[str, Any]
) -> None:
    response = client.post(PLAYLISTS, json=body, headers=viewer.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert catalog.list_playlists(viewer.id) == []
