"""Comments: visibility, paging, verbatim text, and who may delete, on the real dev stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from storage.catalog import Catalog, Role, Video, Visibility
from tests.fixtures.api import Account

MakeAccount = Callable[..., Account]


def comments_url(video_id: UUID) -> str:
    return f"/api/v1/videos/{video_id}/comments"


@pytest.fixture
def video(catalog: Catalog, creator: Account) -> Video:
    return catalog.create_video(creator.id, "Comment on me", visibility=Visibility.PUBLIC)


def test_post_and_list_comments_newest_first(
    client: TestClient, video: Video, viewer: Account, creator: Account
) -> None:
    for text, account in (("first", viewer), ("second", creator), ("third", viewer)):
        response = client.post(comments_url(video.id), json={"text": text}, headers=account.headers)
        assert response.status_code == 201, response.text
        assert response.json()["author_id"] == str(account.id)
        assert response.json()["video_id"] == str(video.id)
    # Reading needs no account.
    page = client.get(comments_url(video.id)).json()
    assert [c["text"] for c in page["items"]] == ["third", "second", "first"]
    assert page["next_cursor"] is None


def test_comment_pages_follow_the_cursor_without_duplicates_or_gaps(
    client: TestClient, catalog: Catalog, video: Video, viewer: Account
) -> None:
    written = [catalog.add_comment(video.id, viewer.id, f"comment {n}") for n in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(comments_url(video.id), params=params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # A comment written while paging is newer than the cursor: it never shows up in older
        # pages, so it neither repeats nor pushes an older comment out.
        catalog.add_comment(video.id, viewer.id, "late")
    assert seen == [str(c.id) for c in reversed(written)]


def test_text_is_stored_verbatim_and_returned_as_a_json_string(
    client: TestClient, catalog: Catalog, video: Video, viewer: Account
) -> None:
    text = (
        "<script>alert('x')</script> <img src=x onerror=alert(1)> "
        "'); DROP TABLE comments; -- \" \\ \u202e émoji 🎬\n  second line  "
    )
    created = client.post(comments_url(video.id), json={"text": text}, headers=viewer.headers)
    assert created.status_code == 201
    assert created.json()["text"] == text
    listed = client.get(comments_url(video.id))
    assert listed.headers["content-type"] == "application/json"
    assert listed.headers["x-content-type-options"] == "nosniff"
    assert json.loads(listed.content)["items"][0]["text"] == text
    assert b"<script>" in listed.content  # a JSON string, never HTML the API renders
    assert catalog.list_comments(video.id)[0].text == text


@pytest.mark.parametrize("text", ["", "   \n\t", "x" * 2001])
def test_comment_text_must_be_1_to_2000_characters_and_not_blank(
    client: TestClient, video: Video, viewer: Account, text: str
) -> None:
    response = client.post(comments_url(video.id), json={"text": text}, headers=viewer.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


def test_2000_characters_are_accepted(client: TestClient, video: Video, viewer: Account) -> None:
    text = "é" * 2000
    response = client.post(comments_url(video.id), json={"text": text}, headers=viewer.headers)
    assert response.status_code == 201
    assert response.json()["text"] == text


def test_comments_need_a_video_the_caller_can_see(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    private = catalog.create_video(creator.id, "Mine", visibility=Visibility.PRIVATE)
    taken_down = catalog.create_video(creator.id, "Removed", visibility=Visibility.PUBLIC)
    catalog.take_down_video(taken_down.id, "abuse")
    for video_id in (private.id, taken_down.id, uuid4()):
        listed = client.get(comments_url(video_id), headers=viewer.headers)
        posted = client.post(comments_url(video_id), json={"text": "hi"}, headers=viewer.headers)
        assert (listed.status_code, posted.status_code) == (404, 404)
    own = client.post(comments_url(private.id), json={"text": "note"}, headers=creator.headers)
    assert own.status_code == 201
    public = catalog.create_video(creator.id, "Open", visibility=Visibility.PUBLIC)
    assert client.post(comments_url(public.id), json={"text": "anon"}).status_code == 401


@pytest.mark.parametrize("cursor", ["garbage", "Zm9vfGJhcg", "x" * 201])
def test_an_invalid_cursor_is_422(client: TestClient, video: Video, cursor: str) -> None:
    response = client.get(comments_url(video.id), params={"cursor": cursor})
    assert response.status_code == 422


def test_only_the_author_or_an_admin_deletes_a_comment(
    client: TestClient,
    catalog: Catalog,
    video: Video,
    creator: Account,
    viewer: Account,
    make_account: MakeAccount,
) -> None:
    admin = make_account(Role.ADMIN)
    mine = catalog.add_comment(video.id, viewer.id, "mine")
    other = catalog.add_comment(video.id, viewer.id, "moderated")

    # The video's owner is not the comment's author.
    refused = client.delete(f"/api/v1/comments/{mine.id}", headers=creator.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert client.delete(f"/api/v1/comments/{mine.id}").status_code == 401

    assert client.delete(f"/api/v1/comments/{mine.id}", headers=viewer.headers).status_code == 204
    assert client.delete(f"/api/v1/comments/{other.id}", headers=admin.headers).status_code == 204
    assert catalog.list_comments(video.id) == []

    gone = client.delete(f"/api/v1/comments/{mine.id}", headers=viewer.headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"
    assert client.delete(f"/api/v1/comments/{uuid4()}", headers=admin.headers).status_code == 404
