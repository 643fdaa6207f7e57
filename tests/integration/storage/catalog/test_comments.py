"""Comments in the catalog against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

from uuid import uuid4

import pytest

from storage.catalog import Catalog, CommentCursor, InvalidValue, NotFound, User, Video


def test_comments_page_newest_first(catalog: Catalog, creator: User, video: Video) -> None:
    added = [catalog.add_comment(video.id, creator.id, f"comment {i}") for i in range(5)]

    first_page = catalog.list_comments(video.id, limit=2)
    cursor = CommentCursor.decode(first_page[-1].cursor.encode())
    second_page = catalog.list_comments(video.id, limit=2, before=cursor)
    last_page = catalog.list_comments(video.id, limit=2, before=second_page[-1].cursor)

    pages = [c.id for c in first_page + second_page + last_page]
    assert pages == [c.id for c in reversed(added)]


def test_comment_rules(catalog: Catalog, creator: User, video: Video) -> None:
    with pytest.raises(InvalidValue):
        catalog.add_comment(video.id, creator.id, " \n\t")
    with pytest.raises(InvalidValue):
        catalog.add_comment(video.id, creator.id, "x" * 5001)
    with pytest.raises(NotFound):
        catalog.add_comment(uuid4(), creator.id, "hello")
    with pytest.raises(NotFound):
        catalog.add_comment(video.id, uuid4(), "hello")
    with pytest.raises(InvalidValue):
        CommentCursor.decode("not-a-cursor")
    assert catalog.add_comment(video.id, creator.id, "x" * 5000).text == "x" * 5000


def test_delete_comment(catalog: Catalog, creator: User, video: Video) -> None:
    kept = catalog.add_comment(video.id, creator.id, "keep")
    gone = catalog.add_comment(video.id, creator.id, "remove")

    catalog.delete_comment(gone.id)

    assert catalog.list_comments(video.id) == [kept]
    with pytest.raises(NotFound):
        catalog.delete_comment(gone.id)
    with pytest.raises(NotFound):
        catalog.get_comment(gone.id)


def test_comments_by_id_and_by_author(catalog: Catalog, creator: User, video: Video) -> None:
    viewer = catalog.create_user("ann@example.com", "hash")
    other_video = catalog.create_video(creator.id, "Other")
    first = catalog.add_comment(video.id, viewer.id, "first")
    catalog.add_comment(video.id, creator.id, "by the creator")
    second = catalog.add_comment(other_video.id, viewer.id, "second")

    assert catalog.get_comment(first.id) == first
    assert catalog.list_comments_by_user(viewer.id) == [second, first]
