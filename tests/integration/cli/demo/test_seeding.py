"""The demo's data on a test database, keyspace and object store, seeded twice: the second time
must reuse everything the first one made, as a second `make demo` does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from api.security import hash_password
from cli.demo.seeding import (
    DemoClip,
    WatchableVideo,
    seed_library,
    seed_users,
    seed_watch_events,
)
from cli.demo.showcase import PLAYLIST_TITLE, playback_sessions, seed_community, seed_playback
from storage.catalog import (
    Catalog,
    PlaylistVisibility,
    Role,
    UserSubscriptionStatus,
    Visibility,
)
from storage.history import History
from storage.objects import LocalObjectStore
from storage.playback import playback_log
from storage.seed import SeedVideo, days_ending


def test_seeding_twice_creates_nothing_new(
    catalog: Catalog,
    history: History,
    store: LocalObjectStore,
    tiny_clips: list[DemoClip],
    tmp_path: Path,
) -> None:
    users = seed_users(catalog)
    assert len([c for c in users.changes if c.startswith("created")]) == 4
    assert users.subscriber.subscription_status == UserSubscriptionStatus.ACTIVE
    assert users.viewer.subscription_status == UserSubscriptionStatus.NONE
    assert (users.creator.role, users.admin.role) == (Role.CREATOR, Role.ADMIN)

    library = seed_library(catalog, store, users.creator, tiny_clips, tmp_path)
    assert all(video.created and video.uploaded for video in library)
    pending = catalog.list_completed_uploads_pending_ingest()
    assert {upload.video_id for upload in pending} == {video.video_id for video in library}
    assert all(store.exists(upload.object_key) for upload in pending)

    videos = [
        WatchableVideo(SeedVideo(video.video_id, 2.0), video.visibility, video.audience)
        for video in library
    ]
    # The demo's window, the days up to yesterday: what follows holds whatever today is.
    days = days_ending(datetime.now(UTC).date() - timedelta(days=1), 2)
    written = seed_watch_events(history, users, videos, days, viewers=6)
    assert sorted(written) == days
    counts = {day: history.count_events_for_day(day) for day in days}
    assert counts == written
    for day in days:
        watched = {event.user_id for event in history.events_for_day(day)}
        # Both demo viewers and generated ones (whose seeds are constants, not the date).
        assert {users.subscriber.id, users.viewer.id} < watched, day
    premium = {video.video_id for video in library if video.visibility == Visibility.PREMIUM}
    assert not premium & {entry.video_id for entry in history.history(users.viewer.id)}

    again = seed_users(catalog)
    assert again.changes == ()
    assert [u.id for u in (again.subscriber, again.viewer, again.creator, again.admin)] == [
        u.id for u in (users.subscriber, users.viewer, users.creator, users.admin)
    ]
    assert len(catalog.subscriptions_of_user(users.subscriber.id)) == 1
    library_again = seed_library(catalog, store, users.creator, tiny_clips, tmp_path)
    assert [v.video_id for v in library_again] == [v.video_id for v in library]
    assert not any(video.created or video.uploaded for video in library_again)
    assert catalog.list_completed_uploads_pending_ingest() == pending
    assert seed_watch_events(history, users, videos, days, viewers=6) == {}
    assert {day: history.count_events_for_day(day) for day in days} == counts


def test_seed_users_repairs_a_changed_password_and_role(catalog: Catalog) -> None:
    users = seed_users(catalog)
    catalog.update_user(users.admin.id, role=Role.VIEWER, password_hash=hash_password("changed!!!"))
    again = seed_users(catalog)
    assert again.changes == ("reset admin@example.com",)
    assert again.admin.role == Role.ADMIN


def test_ratings_playlists_and_player_events_are_seeded_once(
    catalog: Catalog,
    history: History,
    store: LocalObjectStore,
    tiny_clips: list[DemoClip],
    tmp_path: Path,
) -> None:
    users = seed_users(catalog)
    library = seed_library(catalog, store, users.creator, tiny_clips, tmp_path)
    videos = [
        WatchableVideo(SeedVideo(video.video_id, 8.0), video.visibility, video.audience)
        for video in library
    ]
    days = days_ending(date(2026, 2, 11), 2)
    ids = [video.video_id for video in library]
    free = [video.video_id for video in library if video.visibility != Visibility.PREMIUM]

    seed_community(catalog, users, videos, days)
    rated = {r.video_id: r.value for r in catalog.list_ratings_by_user(users.subscriber.id)}
    assert set(rated) == set(ids) and set(rated.values()) <= {1, -1}
    assert {r.video_id for r in catalog.list_ratings_by_user(users.viewer.id)} == set(free)
    # Each rating on a day of the window, so the daily community dataset counts them.
    assert {r.rated_at.date() for r in catalog.list_ratings_by_user(users.subscriber.id)} <= set(
        days
    )
    [picks] = catalog.list_playlists(users.subscriber.id)
    assert (picks.title, picks.visibility) == (PLAYLIST_TITLE, PlaylistVisibility.PUBLIC)
    entries = [entry.video.id for entry in catalog.list_playlist_entries(picks.id)]
    assert entries == ids[:3]
    later = catalog.watch_later(users.viewer.id)
    assert [entry.video.id for entry in catalog.list_playlist_entries(later.id)] == free[:1]

    written = seed_playback(history, videos, days)
    log = playback_log(history)
    expected = {day: sum(map(len, playback_sessions(ids, day))) for day in days}
    assert written == expected
    assert {day: log.count_events_for_day(day) for day in days} == expected
    session = playback_sessions(ids, days[0])[0]
    assert log.events_of_session(session[0].session_id)[-1].event_type == session[-1].event_type

    # A second demo adds nothing.
    seed_community(catalog, users, videos, days)
    assert len(catalog.list_ratings_by_user(users.subscriber.id)) == len(ids)
    assert len(catalog.list_playlists(users.subscriber.id)) == 1
    assert len(catalog.list_playlist_entries(later.id)) == 1
    assert seed_playback(history, videos, days) == {}
    assert {day: log.count_events_for_day(day) for day in days} == expected
