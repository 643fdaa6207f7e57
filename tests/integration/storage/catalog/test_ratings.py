"""Ratings and their event log in the catalog, against a real, freshly migrated PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from storage.catalog import Catalog, InvalidValue, NotFound, RatingCounts, User, Video

DAY = date(2026, 3, 10)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def events(catalog: Catalog, video: Video) -> list[tuple[int, int]]:
    with catalog._transaction() as conn:
        rows = conn.execute(
            "SELECT value, previous FROM video_rating_events WHERE video_id = %s ORDER BY id",
            (video.id,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_a_change_of_rating_logs_what_it_replaced(
    catalog: Catalog, creator: User, video: Video
) -> None:
    viewer = catalog.create_user("ann@example.com", "hash")

    liked = catalog.rate_video(viewer.id, video.id, 1)
    again = catalog.rate_video(viewer.id, video.id, 1)
    catalog.rate_video(viewer.id, video.id, -1)
    catalog.rate_video(creator.id, video.id, 1)

    assert again == liked  # the same rating twice is one event
    assert catalog.get_rating(viewer.id, video.id).value == -1  # type: ignore[union-attr]
    assert catalog.rating_counts(video.id) == RatingCounts(likes=1, dislikes=1)
    assert catalog.unrate_video(viewer.id, video.id) is True
    assert catalog.unrate_video(viewer.id, video.id) is False
    assert catalog.get_rating(viewer.id, video.id) is None
    assert catalog.rating_counts(video.id) == RatingCounts(likes=1, dislikes=0)
    assert events(catalog, video) == [(1, 0), (-1, 1), (1, 0), (0, -1)]
    assert [r.video_id for r in catalog.list_ratings_by_user(creator.id)] == [video.id]


def test_rating_rules(catalog: Catalog, creator: User, video: Video) -> None:
    with pytest.raises(InvalidValue):
        catalog.rate_video(creator.id, video.id, 0)
    with pytest.raises(InvalidValue):
        catalog.rate_video(creator.id, video.id, 2)
    with pytest.raises(NotFound):
        catalog.rate_video(creator.id, uuid4(), 1)
    assert events(catalog, video) == []


def test_concurrent_changes_keep_the_log_consistent(catalog: Catalog, video: Video) -> None:
    viewer = catalog.create_user("ann@example.com", "hash")
    values = [1, -1] * 10

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda v: catalog.rate_video(viewer.id, video.id, v), values))

    # Each event's `previous` is the value the one before it set: no change was logged twice
    # against the same old value.
    logged = events(catalog, video)
    assert logged[0][1] == 0
    assert all(logged[i][1] == logged[i - 1][0] for i in range(1, len(logged)))
    final = catalog.get_rating(viewer.id, video.id)
    assert final is not None and final.value == logged[-1][0]


def test_community_day_counts_the_log_up_to_the_days_end(
    catalog: Catalog, creator: User, video: Video
) -> None:
    ann = catalog.create_user("ann@example.com", "hash")
    bob = catalog.create_user("bob@example.com", "hash")
    other = catalog.create_video(creator.id, "Other")
    catalog.rate_video(ann.id, video.id, 1, at=at(9, 12))
    catalog.rate_video(bob.id, video.id, 1, at=at(10, 8))
    catalog.rate_video(ann.id, video.id, -1, at=at(10, 9))
    catalog.rate_video(creator.id, other.id, -1, at=at(10, 23))
    # The next day's changes are not the day's.
    catalog.unrate_video(bob.id, video.id, at=at(11, 0))
    catalog.rate_video(bob.id, other.id, 1, at=at(11, 1))
    playlist = catalog.create_playlist(ann.id, "Mine")
    catalog.add_playlist_item(playlist.id, video.id, at=at(10, 10))
    catalog.add_playlist_item(playlist.id, other.id, at=at(9, 10))

    day = catalog.community_day(DAY)

    rows = {r.video_id: r for r in day.rows}
    assert set(rows) == {video.id, other.id}
    assert rows[video.id].model_dump(exclude={"video_id"}) == {
        "likes": 1,
        "dislikes": 1,
        "likes_added": 1,
        "dislikes_added": 1,
        "playlist_adds": 1,
    }
    assert rows[other.id].model_dump(exclude={"video_id"}) == {
        "likes": 0,
        "dislikes": 1,
        "likes_added": 0,
        "dislikes_added": 1,
        "playlist_adds": 0,
    }
    assert (day.likes, day.dislikes) == (1, 2)
    assert catalog.community_day(DAY) == day
    before = catalog.community_day(date(2026, 3, 9))
    assert [(r.video_id, r.likes, r.playlist_adds) for r in before.rows] == sorted(
        [(video.id, 1, 0), (other.id, 0, 1)], key=lambda r: str(r[0])
    )
