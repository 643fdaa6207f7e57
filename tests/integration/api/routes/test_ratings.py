"""Ratings through the API: who may rate, counts in the video's metadata, on the real dev stack."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from storage.catalog import BillingInterval, Catalog, SubscriptionStatus, Video, Visibility
from tests.fixtures.api import Account
from tests.fixtures.videos import published

MakeAccount = Callable[..., Account]


def rating_url(video_id: UUID) -> str:
    return f"/api/v1/videos/{video_id}/rating"


@pytest.fixture
def video(catalog: Catalog, creator: Account) -> Video:
    return published(catalog, creator.id, "Rate me")


def test_likes_and_dislikes_show_in_the_metadata_at_once(
    client: TestClient, video: Video, make_account: MakeAccount
) -> None:
    ann, bob = make_account(), make_account()
    # Read first, so the public answer is cached before the ratings.
    assert client.get(f"/api/v1/videos/{video.id}").json()["likes"] == 0

    liked = client.put(rating_url(video.id), json={"value": "like"}, headers=ann.headers)
    disliked = client.put(rating_url(video.id), json={"value": "dislike"}, headers=bob.headers)

    assert liked.status_code == 200, liked.text
    assert liked.json() == {"video_id": str(video.id), "value": "like", "likes": 1, "dislikes": 0}
    assert disliked.json()["dislikes"] == 1
    metadata = client.get(f"/api/v1/videos/{video.id}").json()
    assert (metadata["likes"], metadata["dislikes"]) == (1, 1)
    assert client.get(rating_url(video.id), headers=ann.headers).json()["value"] == "like"

    switched = client.put(rating_url(video.id), json={"value": "dislike"}, headers=ann.headers)
    assert (switched.json()["likes"], switched.json()["dislikes"]) == (0, 2)
    taken_back = client.delete(rating_url(video.id), headers=bob.headers)
    assert taken_back.json() == {
        "video_id": str(video.id),
        "value": None,
        "likes": 0,
        "dislikes": 1,
    }
    assert client.get(f"/api/v1/videos/{video.id}").json()["dislikes"] == 1
    assert client.get(rating_url(video.id), headers=bob.headers).json()["value"] is None


def test_anonymous_callers_cannot_rate(client: TestClient, video: Video) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = client.request(method, rating_url(video.id), json={"value": "like"})
        assert response.status_code == 401, method
        assert response.json()["code"] == "unauthorized"


@pytest.mark.parametrize("body", [{"value": "love"}, {"value": 1}, {}, {"value": "like", "x": 1}])
def test_bad_ratings_are_refused_and_change_nothing(
    client: TestClient, catalog: Catalog, video: Video, viewer: Account, body: dict[str, object]
) -> None:
    response = client.put(rating_url(video.id), json=body, headers=viewer.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert catalog.get_rating(viewer.id, video.id) is None


def test_hidden_videos_answer_404_and_premium_needs_a_subscription(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    private = published(catalog, creator.id, "Mine", visibility=Visibility.PRIVATE)
    premium = published(catalog, creator.id, "Paid", visibility=Visibility.PREMIUM)
    like = {"value": "like"}

    for video_id in (private.id, uuid4()):
        response = client.put(rating_url(video_id), json=like, headers=viewer.headers)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert client.put(rating_url(private.id), json=like, headers=creator.headers).is_success

    refused = client.put(rating_url(premium.id), json=like, headers=viewer.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_entitled"
    assert catalog.rating_counts(premium.id).likes == 0
    catalog.upsert_plan(
        "premium-monthly",
        name="Premium",
        price_cents=999,
        currency="usd",
        interval=BillingInterval.MONTH,
    )
    catalog.create_subscription(
        viewer.id, "premium-monthly", "sub_rating", status=SubscriptionStatus.ACTIVE
    )
    assert client.put(rating_url(premium.id), json=like, headers=viewer.headers).is_success
    assert client.get(f"/api/v1/videos/{premium.id}").json()["likes"] == 1


def test_export_and_erasure_cover_ratings(
    client: TestClient, catalog: Catalog, video: Video, viewer: Account
) -> None:
    client.put(rating_url(video.id), json={"value": "like"}, headers=viewer.headers)

    exported = client.get("/api/v1/users/me/export", headers=viewer.headers).json()
    assert [(r["video_id"], r["value"]) for r in exported["ratings"]] == [(str(video.id), "like")]

    assert client.delete("/api/v1/users/me", headers=viewer.headers).status_code == 204
    assert catalog.list_ratings_by_user(viewer.id) == []
    assert client.get(f"/api/v1/videos/{video.id}").json()["likes"] == 0
