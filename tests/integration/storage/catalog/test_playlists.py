"""Playlists and their item positions in the catalog, against a real PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import UUID, uuid4

import pytest

from storage.catalog import (
    Catalog,
    InvalidState,
    InvalidValue,
    NotFound,
    PlaylistKind,
    PlaylistVisibility,
    User,
    Video,
)
from storage.catalog.playlists import AlreadyInPlaylist


def order(catalog: Catalog, playlist_id: UUID) -> list[UUID]:
    entries = catalog.list_playlist_entries(playlist_id)
    assert [e.item.position for e in entries] == list(range(len(entries)))
    return [e.item.video_id for e in entries]


@pytest.fixture
def videos(catalog: Catalog, creator: User) -> list[Video]:
    return [catalog.create_video(creator.id, f"Video {n}") for n in range(5)]


def test_add_remove_and_move_keep_positions_dense(
    catalog: Catalog, creator: User, videos: list[Video]
) -> None:
    a, b, c, d, e = (v.id for v in videos)
    playlist = catalog.create_playlist(creator.id, "Mine")
    for video_id in (a, b, c):
        catalog.add_playlist_item(playlist.id, video_id)
    catalog.add_playlist_item(playlist.id, d, position=0)
    catalog.add_playlist_item(playlist.id, e, position=99)
    assert order(catalog, playlist.id) == [d, a, b, c, e]

    assert catalog.move_playlist_item(playlist.id, d, 3).position == 3
    assert order(catalog, playlist.id) == [a, b, c, d, e]
    assert catalog.move_playlist_item(playlist.id, e, 0).position == 0
    assert order(catalog, playlist.id) == [e, a, b, c, d]
    assert catalog.move_playlist_item(playlist.id, a, 1000).position == 4
    assert order(catalog, playlist.id) == [e, b, c, d, a]

    catalog.remove_playlist_item(playlist.id, c)
    assert order(catalog, playlist.id) == [e, b, d, a]
    assert catalog.get_playlist(playlist.id).item_count == 4
    with pytest.raises(NotFound):
        catalog.remove_playlist_item(playlist.id, c)
    with pytest.raises(NotFound):
        catalog.move_playlist_item(playlist.id, c, 0)
    with pytest.raises(AlreadyInPlaylist):
        catalog.add_playlist_item(playlist.id, a)
    with pytest.raises(NotFound):
        catalog.add_playlist_item(playlist.id, uuid4())
    with pytest.raises(NotFound):
        catalog.add_playlist_item(uuid4(), a)
    assert order(catalog, playlist.id) == [e, b, d, a]


def test_concurrent_edits_of_one_list_keep_positions_unique(
    catalog: Catalog, creator: User
) -> None:
    videos = [catalog.create_video(creator.id, f"V{n}").id for n in range(12)]
    playlist = catalog.create_playlist(creator.id, "Busy")
    for video_id in videos[:6]:
        catalog.add_playlist_item(playlist.id, video_id)

    def edit(n: int) -> None:
        if n < 6:
            catalog.add_playlist_item(playlist.id, videos[6 + n], position=n % 3)
        elif n < 9:
            catalog.remove_playlist_item(playlist.id, videos[n - 6])
        else:
            catalog.move_playlist_item(playlist.id, videos[n - 6], 0)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(edit, range(12)))

    listed = order(catalog, playlist.id)
    assert sorted(map(str, listed)) == sorted(map(str, videos[3:]))


def test_watch_later_is_made_once_and_stays(catalog: Catalog, creator: User) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        made = list(pool.map(lambda _: catalog.watch_later(creator.id), range(3)))

    assert len({p.id for p in made}) == 1
    later = made[0]
    assert later.kind == PlaylistKind.WATCH_LATER
    assert later.visibility == PlaylistVisibility.PRIVATE
    with pytest.raises(InvalidState):
        catalog.delete_playlist(later.id)
    with pytest.raises(InvalidState):
        catalog.update_playlist(later.id, visibility=PlaylistVisibility.PUBLIC)
    mine = catalog.create_playlist(creator.id, "Second")
    assert [p.id for p in catalog.list_playlists(creator.id)] == [later.id, mine.id]


def test_update_delete_and_rules(catalog: Catalog, creator: User, video: Video) -> None:
    playlist = catalog.create_playlist(creator.id, "Draft", description="d")
    catalog.add_playlist_item(playlist.id, video.id)

    updated = catalog.update_playlist(
        playlist.id, title="Final", visibility=PlaylistVisibility.PUBLIC
    )

    assert (updated.title, updated.description, updated.visibility) == (
        "Final",
        "d",
        PlaylistVisibility.PUBLIC,
    )
    with pytest.raises(InvalidValue):
        catalog.create_playlist(creator.id, "  ")
    with pytest.raises(InvalidValue):
        catalog.create_playlist(creator.id, "x" * 201)
    catalog.delete_playlist(playlist.id)
    with pytest.raises(NotFound):
        catalog.get_playlist(playlist.id)
    with pytest.raises(NotFound):
        catalog.delete_playlist(playlist.id)
    assert catalog.get_video(video.id) == video


def test_erasure_removes_ratings_and_playlists(
    catalog: Catalog, creator: User, video: Video
) -> None:
    viewer = catalog.create_user("ann@example.com", "hash")
    catalog.rate_video(viewer.id, video.id, 1)
    catalog.rate_video(creator.id, video.id, 1)
    catalog.add_playlist_item(catalog.watch_later(viewer.id).id, video.id)
    catalog.create_playlist(viewer.id, "Mine")

    catalog.erase_user(viewer.id)

    assert catalog.list_ratings_by_user(viewer.id) == []
    assert catalog.list_playlists(viewer.id) == []
    assert catalog.rating_counts(video.id).likes == 1
    assert catalog.list_ratings_by_user(creator.id) != []
