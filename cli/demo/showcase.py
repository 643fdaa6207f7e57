"""What the demo adds so that every page has something to show after `make demo`: captions on
one clip, the demo viewers' ratings, a public playlist and a watch-later list, and a few days of
player quality events for the dashboard.

Everything is deterministic (fixed seeds, times at fixed hours of the given days) and written
once: a second demo finds it and adds nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from cli.demo.seeding import DemoUsers, LibraryVideo, WatchableVideo
from media.captions import parse_captions
from reelflow import layout
from storage.catalog import Catalog, PlaylistVisibility, Visibility
from storage.history import History
from storage.objects import ObjectStore
from storage.playback import (
    END,
    EXIT_BEFORE_START,
    FATAL_ERROR,
    FIRST_FRAME,
    HEARTBEAT,
    REBUFFER_END,
    REBUFFER_START,
    RENDITION_SWITCH,
    SESSION_START,
    PlaybackEvent,
    playback_log,
)

# Short enough for the shortest demo clip; the captions asset clips what runs past the end.
CAPTIONS = {
    "en": (
        "English",
        "WEBVTT\n\n00:00.500 --> 00:03.500\nThe test pattern comes up.\n\n"
        "00:04.000 --> 00:07.000\nA tone plays under the bars.\n",
    ),
    "fr": (
        "Français",
        "WEBVTT\n\n00:00.500 --> 00:03.500\nLa mire apparaît.\n\n"
        "00:04.000 --> 00:07.000\nUn son accompagne les barres.\n",
    ),
}
PLAYLIST_TITLE = "Demo picks"
PLAYBACK_SEED = 18
# Sessions per video and day; a few of them fail to start or are left before the first frame.
SESSIONS = 6
LADDER_KBPS = (400.0, 1200.0, 2500.0)


def seed_captions(catalog: Catalog, store: ObjectStore, library: Sequence[LibraryVideo]) -> str:
    """English and French captions on the library's first public video, before its media run
    packages them; what was done."""
    video = next((v for v in library if v.visibility == Visibility.PUBLIC), None)
    if video is None:
        return "no public video: no captions"
    if catalog.list_captions(video.video_id):
        return f"captions of {video.title!r} exist"
    for language, (label, text) in CAPTIONS.items():
        track = parse_captions(text.encode())
        key = layout.captions_key(video.video_id, language)
        store.put_bytes(key, track.webvtt.encode(), "text/vtt; charset=utf-8")
        catalog.put_caption(video.video_id, language, label, key, len(track.cues))
    return f"captions in {', '.join(CAPTIONS)} on {video.title!r}"


def seed_community(
    catalog: Catalog, users: DemoUsers, videos: Sequence[WatchableVideo], days: Sequence[date]
) -> str:
    """The demo viewers' ratings over `days`, the subscriber's public playlist and the free
    viewer's watch-later list; what was done."""
    if not videos or not days:
        return "nothing published: no ratings or playlists"
    ids = [video.video.video_id for video in videos]
    free = [video.video.video_id for video in videos if video.visibility != Visibility.PREMIUM]
    for n, video_id in enumerate(ids):
        # Spread over the days, at noon, so each day's community dataset has some.
        at = datetime.combine(days[n % len(days)], time(12), UTC)
        catalog.rate_video(users.subscriber.id, video_id, 1 if n % 4 != 3 else -1, at=at)
    for n, video_id in enumerate(free):
        at = datetime.combine(days[-1 - n % len(days)], time(15), UTC)
        catalog.rate_video(users.viewer.id, video_id, -1 if n % 3 == 2 else 1, at=at)
    owned = catalog.list_playlists(users.subscriber.id)
    picks = next((p for p in owned if p.title == PLAYLIST_TITLE), None)
    if picks is None:
        picks = catalog.create_playlist(
            users.subscriber.id,
            PLAYLIST_TITLE,
            description="Three favourites of the demo subscriber",
            visibility=PlaylistVisibility.PUBLIC,
        )
        for n, video_id in enumerate(ids[:3]):
            at = datetime.combine(days[n % len(days)], time(18), UTC)
            catalog.add_playlist_item(picks.id, video_id, at=at)
    later = catalog.watch_later(users.viewer.id)
    if free and not catalog.list_playlist_entries(later.id):
        catalog.add_playlist_item(later.id, free[0], at=datetime.combine(days[-1], time(20), UTC))
    return f"{len(ids) + len(free)} ratings, playlist {PLAYLIST_TITLE!r}, a watch-later list"


def playback_sessions(
    videos: Sequence[UUID], day: date, seed: int = PLAYBACK_SEED
) -> list[list[PlaybackEvent]]:
    """The player events of one day's generated sessions, one list per session: most start,
    play with a rendition switch and sometimes a stall, and end; some fail or are left before
    the first frame."""
    rng = random.Random(f"{seed}-{day.isoformat()}")
    sessions = []
    for video_id in videos:
        for n in range(SESSIONS):
            session = UUID(int=rng.getrandbits(128), version=4)
            events: list[tuple[str, int, dict[str, Any]]] = [(SESSION_START, 0, {})]
            outcome = rng.random()
            if n == 0 and outcome < 0.3:
                events.append((FATAL_ERROR, rng.randint(800, 3000), {"error_code": "3016"}))
            elif n == 1 and outcome < 0.3:
                events.append((EXIT_BEFORE_START, rng.randint(1500, 5000), {}))
            else:
                ttff = int(rng.lognormvariate(6.3, 0.5))
                low, high = rng.sample(LADDER_KBPS, 2)
                events.append((FIRST_FRAME, ttff, {}))
                t = ttff + 4000
                events.append((HEARTBEAT, t, {"playing_s": 4.0, "bitrate_kbps": low}))
                events.append((RENDITION_SWITCH, t, {"bitrate_kbps": high}))
                if rng.random() < 0.3:
                    stall = rng.randint(300, 2000)
                    events.append((REBUFFER_START, t + 500, {}))
                    events.append((REBUFFER_END, t + 500 + stall, {}))
                    t += stall
                played = rng.uniform(3.0, 20.0)
                t += int(played * 1000)
                events.append((HEARTBEAT, t, {"playing_s": played, "bitrate_kbps": high}))
                events.append((END, t + 100, {"playing_s": 0.0, "bitrate_kbps": high}))
            sessions.append(
                [
                    PlaybackEvent(session, seq, video_id, kind, t_ms, **values)
                    for seq, (kind, t_ms, values) in enumerate(events)
                ]
            )
    return sessions


def seed_playback(
    history: History, videos: Sequence[WatchableVideo], days: Sequence[date]
) -> dict[date, int]:
    """`playback_sessions` of each of `days` that has no playback events yet, received in the
    evening of that day; the events written, per day."""
    log = playback_log(history)
    ids = [video.video.video_id for video in videos]
    written = {}
    for day in days:
        if not ids or log.count_events_for_day(day):
            continue
        received = datetime.combine(day, time(19), UTC)
        count = 0
        for n, events in enumerate(playback_sessions(ids, day)):
            count += log.record(events, at=received + timedelta(seconds=n))
        written[day] = count
    return written
