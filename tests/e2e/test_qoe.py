"""Playback quality reports from the watch page in a real browser, read back from Cassandra."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from uuid import UUID

from cassandra.cluster import Session
from playwright.sync_api import Page, Request

from storage.history import History
from storage.playback import StoredPlaybackEvent, playback_log
from tests.e2e.site import Site, wait_for_playback

EVENTS_PATH = "/api/v1/playback/events"
# The player sends its queue every 10 s; the beacon on leaving follows within moments.
FLUSH_TIMEOUT_MS = 20_000
STORED_TIMEOUT_S = 10.0


def is_report(request: Request) -> bool:
    return request.url.endswith(EVENTS_PATH) and request.method == "POST"


def stored_until(
    read: Callable[[], list[StoredPlaybackEvent]], wanted: str, timeout_s: float = STORED_TIMEOUT_S
) -> list[StoredPlaybackEvent]:
    deadline = time.monotonic() + timeout_s
    while True:
        events = read()
        if any(e.event_type == wanted for e in events) or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_an_anonymous_viewers_session_is_reported_and_stored(
    page: Page, site: Site, cassandra_session: Session
) -> None:
    log = playback_log(
        History(
            cassandra_session,
            site.settings.cassandra_keyspace,
            buckets=site.settings.cassandra_event_buckets,
        )
    )
    with page.expect_request(is_report, timeout=FLUSH_TIMEOUT_MS) as first_flush:
        page.goto(site.watch_url(site.public))
        wait_for_playback(page, 3.0)
    batch = json.loads(first_flush.value.post_data or "{}")["events"]
    session = UUID(batch[0]["session_id"])
    assert batch[0]["type"] == "session_start" and batch[0]["t"] == 0
    assert {event["video_id"] for event in batch} == {str(site.public)}

    # Leaving the page sends what is left, with the seconds played, as a beacon.
    page.goto("about:blank")
    events = stored_until(lambda: log.events_of_session(session), "end")
    kinds = [e.event_type for e in events]
    assert kinds[0] == "session_start" and "first_frame" in kinds and kinds[-1] == "end"
    assert [e.seq for e in events] == list(range(len(events)))
    first_frame = next(e for e in events if e.event_type == "first_frame")
    assert first_frame.t_ms > 0
    played = sum(e.playing_s or 0.0 for e in events if e.event_type in ("heartbeat", "end"))
    assert played >= 3.0
    assert all(e.bitrate_kbps and e.bitrate_kbps > 0 for e in events if e.event_type == "end")
    assert "exit_before_start" not in kinds and "fatal_error" not in kinds
