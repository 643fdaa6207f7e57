"""Playback quality (QoE) reports: a batch of player events, validated strictly.

A batch is refused whole (422) when any event breaks a rule: nothing of it is stored, and the
error's `details` name each bad event by its index (`loc` = `["body", "events", i, ...]`).
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from storage.playback import PlaybackEvent

MAX_BATCH_EVENTS = 100
# Two days of a session, paused ones included; later offsets are a broken player clock.
MAX_T_MS = 2 * 86_400_000
MAX_SEQ = 2**31 - 1
# 1 Gbit/s: far above any rendition a ladder holds.
MAX_BITRATE_KBPS = 1_000_000.0
# What one heartbeat may report as played: players send one every ~10 s, on a switch and on
# leaving; a tab throttled in the background may send them late.
MAX_PLAYING_S = 3600.0

StrictInt = Annotated[int, Strict()]
Kbps = Annotated[float, Field(gt=0, le=MAX_BITRATE_KBPS, allow_inf_nan=False)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    session_id: UUID
    video_id: UUID
    seq: StrictInt = Field(ge=0, le=MAX_SEQ, description="the event's number in its session")
    t: StrictInt = Field(ge=0, le=MAX_T_MS, description="milliseconds since the session started")

    def to_event(self) -> PlaybackEvent:
        return PlaybackEvent(
            session_id=self.session_id,
            seq=self.seq,
            video_id=self.video_id,
            event_type=self.type,
            t_ms=self.t,
            playing_s=getattr(self, "playing_s", None),
            bitrate_kbps=getattr(self, "bitrate_kbps", None),
            error_code=getattr(self, "code", None),
        )


class SessionStartEvent(_Event):
    """Playback was requested (or autoplay began): the session's origin, so `t` is 0."""

    type: Literal["session_start"]
    t: StrictInt = Field(ge=0, le=0, description="always 0: the session starts here")


class FirstFrameEvent(_Event):
    """The first frame was shown; `t` is the time to first frame."""

    type: Literal["first_frame"]


class RebufferStartEvent(_Event):
    """Playback stalled for want of data after the first frame."""

    type: Literal["rebuffer_start"]


class RebufferEndEvent(_Event):
    """Playback resumed after a stall."""

    type: Literal["rebuffer_end"]


class RenditionSwitchEvent(_Event):
    """The player switched to the rendition of `bitrate_kbps`."""

    type: Literal["rendition_switch"]
    bitrate_kbps: Kbps


class FatalErrorEvent(_Event):
    """Playback stopped on an error the player could not recover from."""

    type: Literal["fatal_error"]
    code: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="the player's error code")


class ExitBeforeStartEvent(_Event):
    """The viewer left before the first frame."""

    type: Literal["exit_before_start"]


class _PlayedEvent(_Event):
    # Seconds played since the previous heartbeat of the session, all at `bitrate_kbps` when
    # given: players send one just before each rendition switch.
    playing_s: float = Field(ge=0, le=MAX_PLAYING_S, allow_inf_nan=False)
    bitrate_kbps: Kbps | None = None


class HeartbeatEvent(_PlayedEvent):
    """Seconds played since the previous heartbeat, all at `bitrate_kbps` when given."""

    type: Literal["heartbeat"]


class EndEvent(_PlayedEvent):
    """The session ended (page left, video ended); its last seconds played."""

    type: Literal["end"]


PlaybackEventIn = Annotated[
    SessionStartEvent
    | FirstFrameEvent
    | RebufferStartEvent
    | RebufferEndEvent
    | RenditionSwitchEvent
    | FatalErrorEvent
    | ExitBeforeStartEvent
    | HeartbeatEvent
    | EndEvent,
    Field(discriminator="type"),
]


class PlaybackBatch(BaseModel):
    """Up to 100 player events, of one session or several."""

    model_config = ConfigDict(extra="forbid")

    events: list[PlaybackEventIn] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)

    @field_validator("events")
    @classmethod
    def _consistent(cls, events: list[_Event]) -> list[_Event]:
        seen: dict[tuple[UUID, int], int] = {}
        videos: dict[UUID, tuple[int, UUID]] = {}
        for index, event in enumerate(events):
            first = seen.setdefault((event.session_id, event.seq), index)
            if first != index:
                raise ValueError(
                    f"events {first} and {index} both have seq {event.seq} in one session"
                )
            first_index, video = videos.setdefault(event.session_id, (index, event.video_id))
            if video != event.video_id:
                raise ValueError(
                    f"events {first_index} and {index} name different videos for one session"
                )
        return events

    def to_events(self) -> list[PlaybackEvent]:
        return [event.to_event() for event in self.events]


class PlaybackReceipt(BaseModel):
    """What a batch stored: every event, each once however often the batch is sent."""

    events: int
    sessions: int
