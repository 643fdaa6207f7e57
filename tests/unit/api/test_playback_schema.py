"""The playback batch's rules: every event type's values, the batch's limits, which event is
wrong, and what each event becomes for storage."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from api.schemas.playback import MAX_BATCH_EVENTS, PlaybackBatch
from storage.playback import PlaybackEvent

SESSION = UUID("00000000-0000-4000-8000-000000000001")
VIDEO = UUID("00000000-0000-4000-8000-0000000000aa")


def event(kind: str, seq: int, t: int, **values: Any) -> dict[str, Any]:
    return {
        "session_id": str(SESSION),
        "video_id": str(VIDEO),
        "type": kind,
        "seq": seq,
        "t": t,
        **values,
    }


def error_locs(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as caught:
        PlaybackBatch.model_validate(body)
    return [tuple(e["loc"]) for e in caught.value.errors()]


def test_a_whole_session_becomes_storage_events_with_their_values() -> None:
    batch = PlaybackBatch.model_validate(
        {
            "events": [
                event("session_start", 0, 0),
                event("first_frame", 1, 850),
                event("rendition_switch", 2, 900, bitrate_kbps=2500.5),
                event("rebuffer_start", 3, 4000),
                event("rebuffer_end", 4, 4600),
                event("heartbeat", 5, 10_000, playing_s=8.5, bitrate_kbps=2500.5),
                event("fatal_error", 6, 11_000, code="3016"),
                event("end", 7, 11_500, playing_s=0.4),
            ]
        }
    )
    events = batch.to_events()
    assert [e.event_type for e in events] == [
        "session_start",
        "first_frame",
        "rendition_switch",
        "rebuffer_start",
        "rebuffer_end",
        "heartbeat",
        "fatal_error",
        "end",
    ]
    assert events[2] == PlaybackEvent(SESSION, 2, VIDEO, "rendition_switch", 900, None, 2500.5)
    assert events[5] == PlaybackEvent(SESSION, 5, VIDEO, "heartbeat", 10_000, 8.5, 2500.5)
    assert events[6].error_code == "3016"
    assert events[7].playing_s == 0.4 and events[7].bitrate_kbps is None


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (event("session_start", 3, 250), "t"),  # the session's origin is t = 0
        (event("heartbeat", 3, 100), "playing_s"),  # missing
        (event("heartbeat", 3, 100, playing_s=-1), "playing_s"),
        (event("heartbeat", 3, 100, playing_s=float("inf")), "playing_s"),
        (event("heartbeat", 3, 100, playing_s=4000), "playing_s"),
        (event("rendition_switch", 3, 100), "bitrate_kbps"),
        (event("rendition_switch", 3, 100, bitrate_kbps=0), "bitrate_kbps"),
        (event("fatal_error", 3, 100, code="a b"), "code"),
        (event("fatal_error", 3, 100, code="x" * 65), "code"),
        (event("first_frame", 3, -1), "t"),
        (event("first_frame", 3, "100"), "t"),  # strict: numbers, not strings of digits
        (event("first_frame", 3, 1.5), "t"),
        (event("first_frame", -1, 100), "seq"),
        (event("first_frame", 3, 100, playing_s=1.0), "playing_s"),  # not its value
        (event("first_frame", 3, 100) | {"session_id": "not-a-uuid"}, "session_id"),
    ],
)
def test_a_bad_event_is_named_by_its_index_and_field(bad: dict[str, Any], field: str) -> None:
    body = {"events": [event("session_start", 0, 0), event("first_frame", 1, 10), bad]}
    locs = error_locs(body)
    assert locs, "the batch was accepted"
    assert all(loc[:2] == ("events", 2) for loc in locs)
    assert any(loc[-1] == field for loc in locs)


def test_an_unknown_type_is_refused() -> None:
    locs = error_locs({"events": [event("buffering", 0, 0)]})
    assert locs[0][:2] == ("events", 0)


def test_a_batch_holds_one_to_a_hundred_events() -> None:
    assert error_locs({"events": []}) == [("events",)]
    many = [event("heartbeat", n, n * 10, playing_s=0.01) for n in range(MAX_BATCH_EVENTS + 1)]
    assert error_locs({"events": many}) == [("events",)]
    assert len(PlaybackBatch.model_validate({"events": many[:-1]}).events) == MAX_BATCH_EVENTS


def test_a_repeated_sequence_number_names_both_events() -> None:
    body = {"events": [event("session_start", 0, 0), event("first_frame", 0, 10)]}
    with pytest.raises(ValidationError, match="events 0 and 1 both have seq 0"):
        PlaybackBatch.model_validate(body)


def test_the_same_number_in_two_sessions_is_two_events() -> None:
    other = event("session_start", 0, 0) | {"session_id": str(uuid4())}
    batch = PlaybackBatch.model_validate({"events": [event("session_start", 0, 0), other]})
    assert len({e.session_id for e in batch.to_events()}) == 2


def test_one_session_plays_one_video() -> None:
    body = {
        "events": [
            event("session_start", 0, 0),
            event("first_frame", 1, 10) | {"video_id": str(uuid4())},
        ]
    }
    with pytest.raises(ValidationError, match="events 0 and 1 name different videos"):
        PlaybackBatch.model_validate(body)


def test_unknown_fields_are_refused() -> None:
    locs = error_locs({"events": [event("session_start", 0, 0, extra=1)]})
    assert locs[0][:2] == ("events", 0)
