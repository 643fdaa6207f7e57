"""The demo's generated player sessions: the same for the same day, and what the API accepts."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from api.schemas.playback import PlaybackBatch
from cli.demo.showcase import SESSIONS, playback_sessions
from storage.playback import END, FIRST_FRAME, SESSION_START, PlaybackEvent

VIDEOS = [UUID(int=n, version=4) for n in (1, 2, 3)]
DAY = date(2026, 3, 14)


def body(event: PlaybackEvent) -> dict[str, Any]:
    values = {
        "playing_s": event.playing_s,
        "bitrate_kbps": event.bitrate_kbps,
        "code": event.error_code,
    }
    return {
        "session_id": str(event.session_id),
        "video_id": str(event.video_id),
        "type": event.event_type,
        "seq": event.seq,
        "t": event.t_ms,
        **{name: value for name, value in values.items() if value is not None},
    }


def test_a_day_gets_the_same_sessions_every_time_and_another_day_others() -> None:
    sessions = playback_sessions(VIDEOS, DAY)
    assert sessions == playback_sessions(VIDEOS, DAY)
    assert len(sessions) == SESSIONS * len(VIDEOS)
    others = playback_sessions(VIDEOS, date(2026, 3, 15))
    assert {s[0].session_id for s in sessions}.isdisjoint({s[0].session_id for s in others})


def test_every_session_is_what_a_player_would_send() -> None:
    sessions = playback_sessions(VIDEOS, DAY)
    for events in sessions:
        batch = PlaybackBatch.model_validate({"events": [body(event) for event in events]})
        assert batch.to_events() == events
        assert events[0].event_type == SESSION_START and events[0].t_ms == 0
        assert [event.seq for event in events] == list(range(len(events)))
        assert [event.t_ms for event in events] == sorted(event.t_ms for event in events)
    played = [events for events in sessions if events[1].event_type == FIRST_FRAME]
    # Most sessions play to their end; the dashboard has failures and exits to show too.
    assert len(sessions) > len(played) >= len(sessions) // 2
    assert all(events[-1].event_type == END for events in played)
