"""Search: ranked by title then description, stemmed, filtered by tags, listable videos only."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from storage.catalog import Catalog, Visibility
from tests.fixtures.api import Account
from tests.fixtures.videos import published

SEARCH = "/api/v1/search"


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def search(client: TestClient, account: Account | None = None, **params: Any) -> dict[str, Any]:
    headers = account.headers if account else {}
    response = client.get(SEARCH, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_search_ranks_title_matches_first_and_stems_words(
    client: TestClient, catalog: Catalog, creator: Account
) -> None:
    in_description = published(
        catalog, creator.id, "Weekend projects", description="Baking rye bread in a cast-iron pot"
    )
    in_title = published(catalog, creator.id, "Bread baking for beginners")
    published(catalog, creator.id, "Woodworking")
    assert ids(search(client, q="bread")) == [str(in_title.id), str(in_description.id)]
    assert ids(search(client, q="bakes"))[0] == str(in_title.id)
    assert ids(search(client, q="bread -rye")) == [str(in_title.id)]


def test_search_lists_only_what_the_caller_may_see_in_listings(
    client: TestClient, catalog: Catalog, creator: Account, viewer: Account
) -> None:
    public = published(catalog, creator.id, "Kayak trip public")
    premium = published(catalog, creator.id, "Kayak trip premium", visibility=Visibility.PREMIUM)
    private = published(catalog, creator.id, "Kayak trip private", visibility=Visibility.PRIVATE)
    published(catalog, creator.id, "Kayak trip unlisted", visibility=Visibility.UNLISTED)
    taken_down = published(catalog, creator.id, "Kayak trip taken down")
    catalog.take_down_video(taken_down.id, "dangerous")
    catalog.create_video(creator.id, "Kayak trip unpublished", visibility=Visibility.PUBLIC)
    listed = {str(public.id), str(premium.id)}
    assert set(ids(search(client, q="kayak"))) == listed
    assert set(ids(search(client, viewer, q="kayak"))) == listed
    # The owner finds their own private video too; admins get no more than anyone else.
    assert set(ids(search(client, creator, q="kayak"))) == listed | {str(private.id)}


def test_search_filters_by_tags_and_pages(
    client: TestClient, catalog: Catalog, creator: Account
) -> None:
    both = published(catalog, creator.id, "Pasta night", tags=("cooking", "italian"))
    published(catalog, creator.id, "Curry night", tags=("cooking", "indian"))
    assert ids(search(client, tags=["cooking", "italian"])) == [str(both.id)]
    assert ids(search(client, tags="Cooking,Italian")) == [str(both.id)]
    assert len(ids(search(client, tags="cooking"))) == 2

    first = search(client, q="night", page_size=1)
    second = search(client, q="night", page_size=1, page=2)
    third = search(client, q="night", page_size=1, page=3)
    assert first["has_more"] and not second["has_more"] and third["items"] == []
    assert {*ids(first), *ids(second)} == {str(both.id), ids(search(client, q="curry"))[0]}


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"page": 101}, {"page_size": 0}, {"page_size": 51}, {"q": "x" * 201}],
)
def test_search_parameters_out_of_range_are_422(client: TestClient, params: dict[str, Any]) -> None:
    response = client.get(SEARCH, params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
