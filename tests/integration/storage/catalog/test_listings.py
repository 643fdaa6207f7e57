"""Search, the feed's candidates, trending and the published catalogue against PostgreSQL."""

from __future__ import annotations

from datetime import date

import psycopg

from storage.catalog import Catalog, FeedCandidate, Role, User, Visibility
from storage.trending import replace_trending
from tests.fixtures.videos import published


def test_search_finds_a_word_of_the_description(catalog: Catalog, creator: User) -> None:
    bunny = published(catalog, creator.id, "Bunny", description="A giant rabbit in a meadow")
    published(catalog, creator.id, "Dragon", description="A girl raises a dragon")

    assert [v.id for v in catalog.search_videos("meadow")] == [bunny.id]


def test_search_stems_words(catalog: Catalog, creator: User) -> None:
    runner = published(catalog, creator.id, "Morning", description="She goes running")

    assert [v.id for v in catalog.search_videos("run")] == [runner.id]
    assert [v.id for v in catalog.search_videos("runs")] == [runner.id]


def test_search_ranks_title_above_tags_above_description(catalog: Catalog, creator: User) -> None:
    in_description = published(catalog, creator.id, "Meadow", description="The dragon sleeps here")
    in_title = published(catalog, creator.id, "Dragon Tales", description="Fire and wings")
    in_tags = published(catalog, creator.id, "Wings", tags=("dragon",))

    found = catalog.search_videos("dragons")

    assert [v.id for v in found] == [in_title.id, in_tags.id, in_description.id]


def test_search_filters_by_visibility_and_publication(catalog: Catalog, creator: User) -> None:
    public = published(catalog, creator.id, "Rabbit public")
    premium = published(catalog, creator.id, "Rabbit premium", visibility=Visibility.PREMIUM)
    catalog.create_video(creator.id, "Rabbit private")
    catalog.create_video(creator.id, "Rabbit unpublished", visibility=Visibility.PUBLIC)

    assert {v.id for v in catalog.search_videos("rabbit")} == {public.id}
    both = catalog.search_videos("rabbit", visibilities=[Visibility.PUBLIC, Visibility.PREMIUM])
    assert {v.id for v in both} == {public.id, premium.id}
    unpublished = catalog.search_videos("rabbit", published_only=False)
    assert {v.title for v in unpublished} == {"Rabbit public", "Rabbit unpublished"}


def test_search_by_tags_and_blank_query(catalog: Catalog, creator: User) -> None:
    comedy = published(catalog, creator.id, "Laughs", tags=("comedy", "short"))
    published(catalog, creator.id, "Tears", tags=("drama", "short"))

    assert [v.id for v in catalog.search_videos("", tags=["Comedy"])] == [comedy.id]
    assert len(catalog.search_videos("  ", tags=["short"])) == 2
    assert catalog.search_videos("laughs", tags=["drama"]) == []
    assert len(catalog.search_videos("", limit=1)) == 1


def test_search_accepts_web_search_syntax(catalog: Catalog, creator: User) -> None:
    published(catalog, creator.id, "Cats", description="cats and dogs")
    dogs = published(catalog, creator.id, "Dogs", description="dogs barking")

    assert [v.id for v in catalog.search_videos("dog -cats")] == [dogs.id]
    assert [v.id for v in catalog.search_videos('"dogs barking"')] == [dogs.id]
    assert catalog.search_videos('"unclosed quote') == []


def test_listed_search_shows_what_a_listing_may_show_the_viewer(
    catalog: Catalog, creator: User
) -> None:
    other = catalog.create_user("other@example.com", "hash", role=Role.CREATOR)
    public = published(catalog, creator.id, "Otter public")
    premium = published(catalog, creator.id, "Otter premium", visibility=Visibility.PREMIUM)
    own_private = published(catalog, creator.id, "Otter private", visibility=Visibility.PRIVATE)
    others_private = published(catalog, other.id, "Otter of another", visibility=Visibility.PRIVATE)
    published(catalog, creator.id, "Otter unlisted", visibility=Visibility.UNLISTED)
    taken_down = published(catalog, creator.id, "Otter taken down")
    catalog.take_down_video(taken_down.id, "spam")
    catalog.create_video(creator.id, "Otter unpublished", visibility=Visibility.PUBLIC)

    anonymous = catalog.search_listed_videos("otter")
    for_creator = catalog.search_listed_videos("otter", viewer_id=creator.id)

    assert {v.id for v in anonymous} == {public.id, premium.id}
    assert {v.id for v in for_creator} == {public.id, premium.id, own_private.id}
    for_other = catalog.search_listed_videos("otter", viewer_id=other.id)
    assert {v.id for v in for_other} == {public.id, premium.id, others_private.id}
    assert catalog.search_listed_videos("otter", tags=["missing"]) == []


def test_feed_candidates_as_of_a_moment(catalog: Catalog, creator: User) -> None:
    older = published(catalog, creator.id, "Older")
    catalog.add_comment(older.id, creator.id, "first")
    published(catalog, creator.id, "Premium", visibility=Visibility.PREMIUM)
    as_of = catalog.database_now()
    published(catalog, creator.id, "Newer")
    catalog.add_comment(older.id, creator.id, "second")
    published(catalog, creator.id, "Unlisted", visibility=Visibility.UNLISTED)
    hidden = published(catalog, creator.id, "Taken down")
    catalog.take_down_video(hidden.id, "spam")

    then = catalog.feed_candidates(as_of, limit=10)
    now = catalog.feed_candidates(catalog.database_now(), limit=10)

    def titled(candidates: list[FeedCandidate]) -> list[tuple[str, int]]:
        videos = catalog.get_videos(c.video_id for c in candidates)
        return [(videos[c.video_id].title, c.comments) for c in candidates]

    assert titled(then) == [("Premium", 0), ("Older", 1)]
    assert titled(now) == [("Newer", 0), ("Premium", 0), ("Older", 2)]
    assert [c.published_at for c in now] == sorted((c.published_at for c in now), reverse=True)
    assert len(catalog.feed_candidates(as_of, limit=1)) == 1


def test_trending_keeps_the_videos_anyone_may_watch(
    catalog: Catalog, catalog_dsn: str, creator: User
) -> None:
    first = published(catalog, creator.id, "First")
    second = published(catalog, creator.id, "Second")
    premium = published(catalog, creator.id, "Premium", visibility=Visibility.PREMIUM)
    with psycopg.connect(catalog_dsn) as conn:
        replace_trending(conn, date(2026, 3, 1), [(first.id, 9.0, 1), (second.id, 5.0, 2)])
        replace_trending(
            conn, date(2026, 3, 2), [(premium.id, 9.0, 1), (second.id, 8.0, 2), (first.id, 1.0, 3)]
        )
    catalog.take_down_video(first.id, "spam")

    latest = catalog.trending()
    earlier = catalog.trending(day=date(2026, 3, 1))

    assert [(entry.rank, video.id) for entry, video in latest] == [(2, second.id)]
    assert [(entry.day, video.title) for entry, video in earlier] == [(date(2026, 3, 1), "Second")]
    catalog.restore_video(first.id)
    assert [video.id for _, video in catalog.trending(limit=1, day=date(2026, 3, 1))] == [first.id]


def test_published_videos_of_every_visibility_oldest_first(catalog: Catalog, creator: User) -> None:
    public = published(catalog, creator.id, "Public")
    private = published(catalog, creator.id, "Private", visibility=Visibility.PRIVATE)
    catalog.create_video(creator.id, "Unpublished", visibility=Visibility.PUBLIC)

    assert [v.id for v in catalog.list_published_videos()] == [public.id, private.id]
