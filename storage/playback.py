"""Playback quality (QoE) events in Cassandra: what players report about starting and streaming.

Plain Python over cassandra-driver, beside `History` on the same session and keyspace: the API
records batches through `PlaybackLog.record`, the daily Spark job reads `playback_events_by_day`
(storage/playback_quality.py). docs/history.md explains the tables.

Every event of a session is stored on the UTC day the session was first heard of (the
`playback_sessions` row, set once with a lightweight transaction), in the partition
`(day, crc32(session_id) % buckets)`, keyed by the player's sequence number. So a session's
events are aggregated together even when it plays across midnight, and a batch sent again
(a retry after a lost answer) rewrites the same rows instead of adding new ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID
from weakref import WeakKeyDictionary

import pyarrow as pa
from cassandra import ConsistencyLevel
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from storage.history import History, event_bucket

SESSION_START = "session_start"
FIRST_FRAME = "first_frame"
REBUFFER_START = "rebuffer_start"
REBUFFER_END = "rebuffer_end"
RENDITION_SWITCH = "rendition_switch"
FATAL_ERROR = "fatal_error"
EXIT_BEFORE_START = "exit_before_start"
HEARTBEAT = "heartbeat"
END = "end"
EVENT_TYPES = (
    SESSION_START,
    FIRST_FRAME,
    REBUFFER_START,
    REBUFFER_END,
    RENDITION_SWITCH,
    FATAL_ERROR,
    EXIT_BEFORE_START,
    HEARTBEAT,
    END,
)
# The events whose `playing_s` counts as time played (and, with a bitrate, weighs it).
PLAYING_TYPES = (HEARTBEAT, END)

# The analyst datasets made from these events (docs/datasets.md): per video and day, and the
# whole day over every event (not an average of the videos' rows).
QUALITY = "daily_playback_quality"
QUALITY_OVERALL = "daily_playback_quality_overall"
_QUALITY_FIELDS = [
    pa.field("plays", pa.int64(), nullable=False),
    pa.field("video_start_failures", pa.int64(), nullable=False),
    pa.field("exits_before_start", pa.int64(), nullable=False),
    pa.field("ttff_median_ms", pa.float64()),
    pa.field("ttff_p95_ms", pa.float64()),
    pa.field("rebuffer_ratio", pa.float64()),
    pa.field("avg_bitrate_kbps", pa.float64()),
    pa.field("rendition_switches", pa.int64(), nullable=False),
]
QUALITY_SCHEMA = pa.schema([pa.field("video_id", pa.string(), nullable=False), *_QUALITY_FIELDS])
QUALITY_OVERALL_SCHEMA = pa.schema(_QUALITY_FIELDS)
QUALITY_SCHEMAS = {QUALITY: QUALITY_SCHEMA, QUALITY_OVERALL: QUALITY_OVERALL_SCHEMA}


@dataclass(frozen=True)
class PlaybackEvent:
    """One player event as the API accepted it; `t_ms` is the player's clock since the session
    started, `seq` its number within the session."""

    session_id: UUID
    seq: int
    video_id: UUID
    event_type: str
    t_ms: int
    playing_s: float | None = None
    bitrate_kbps: float | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class StoredPlaybackEvent:
    """One row of `playback_events_by_day`."""

    day: date
    bucket: int
    session_id: UUID
    seq: int
    video_id: UUID
    event_type: str
    t_ms: int
    received_at: datetime
    playing_s: float | None
    bitrate_kbps: float | None
    error_code: str | None


class PlaybackLog:
    """Playback events of every session, on the session and keyspace of a `History`."""

    def __init__(self, history: History) -> None:
        self.session = history.session
        self.buckets = history.buckets
        self.ttl_s = history.event_ttl_s
        self._read = history.read_consistency
        self._write = history.write_consistency
        ks = history.keyspace
        self._select_day = self._prepare(
            f"SELECT day FROM {ks}.playback_sessions WHERE session_id = ?", reads=True
        )
        # The only compare-and-set, once per session: two first batches racing across midnight
        # must still agree on one day.
        self._claim_day = self._prepare(
            f"INSERT INTO {ks}.playback_sessions (session_id, day, first_seen_at) "
            "VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?",
            reads=False,
        )
        # Paxos within the local data centre, as LOCAL_QUORUM keeps every other request there.
        self._claim_day.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        self._insert_event = self._prepare(
            f"INSERT INTO {ks}.playback_events_by_day (day, bucket, session_id, seq, video_id, "
            "event_type, t_ms, received_at, playing_s, bitrate_kbps, error_code) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
            reads=False,
        )
        self._select_session = self._prepare(
            "SELECT day, bucket, session_id, seq, video_id, event_type, t_ms, received_at, "
            f"playing_s, bitrate_kbps, error_code FROM {ks}.playback_events_by_day "
            "WHERE day = ? AND bucket = ? AND session_id = ?",
            reads=True,
        )
        self._count_day = self._prepare(
            f"SELECT COUNT(*) FROM {ks}.playback_events_by_day WHERE day = ? AND bucket = ?",
            reads=True,
        )

    def record(self, events: Sequence[PlaybackEvent], *, at: datetime | None = None) -> int:
        """Store a batch of events (validated by the caller); the number of rows written.

        `at` (timezone-aware, default now) is when the batch arrived: it is every event's
        `received_at`, and the day of any session not heard of before.
        """
        received_at = _utc_ms(at or datetime.now(UTC))
        days = self._session_days({event.session_id for event in events}, received_at)
        by_session: dict[UUID, list[PlaybackEvent]] = {}
        for event in events:
            by_session.setdefault(event.session_id, []).append(event)
        for session_id, session_events in by_session.items():
            day = days[session_id]
            bucket = event_bucket(session_id, self.buckets)
            # One partition per session, so the batch is one mutation: no batch log.
            batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self._write)
            batch.is_idempotent = True
            for event in session_events:
                batch.add(
                    self._insert_event,
                    (
                        day,
                        bucket,
                        session_id,
                        event.seq,
                        event.video_id,
                        event.event_type,
                        event.t_ms,
                        received_at,
                        event.playing_s,
                        event.bitrate_kbps,
                        event.error_code,
                        self.ttl_s,
                    ),
                )
            self.session.execute(batch)
        return len(events)

    def session_day(self, session_id: UUID) -> date | None:
        """The day a session's events are stored on, or None for a session never heard of."""
        row = self.session.execute(self._select_day, (session_id,)).one()
        return None if row is None else row.day.date()

    def events_of_session(self, session_id: UUID) -> list[StoredPlaybackEvent]:
        """Every stored event of one session, by sequence number."""
        day = self.session_day(session_id)
        if day is None:
            return []
        bucket = event_bucket(session_id, self.buckets)
        rows = self.session.execute(self._select_session, (day, bucket, session_id))
        return [
            StoredPlaybackEvent(
                row.day.date(),
                row.bucket,
                row.session_id,
                row.seq,
                row.video_id,
                row.event_type,
                row.t_ms,
                row.received_at.replace(tzinfo=UTC),
                row.playing_s,
                row.bitrate_kbps,
                row.error_code,
            )
            for row in rows
        ]

    def count_events_for_day(self, day: date) -> int:
        """The number of playback events stored on one UTC day."""
        results = execute_concurrent_with_args(
            self.session,
            self._count_day,
            [(day, bucket) for bucket in range(self.buckets)],
            raise_on_first_error=True,
        )
        return sum(result.one().count for _, result in results)

    def _session_days(self, sessions: Iterable[UUID], now: datetime) -> dict[UUID, date]:
        sessions = sorted(sessions)
        found = execute_concurrent_with_args(
            self.session, self._select_day, [(s,) for s in sessions], raise_on_first_error=True
        )
        days: dict[UUID, date] = {}
        for session_id, (_, result) in zip(sessions, found, strict=True):
            row = result.one()
            if row is not None:
                days[session_id] = row.day.date()
                continue
            claim = self.session.execute(self._claim_day, (session_id, now.date(), now, self.ttl_s))
            # Not applied: another batch claimed the session first; its day is returned.
            days[session_id] = now.date() if claim.was_applied else claim.one().day.date()
        return days

    def _prepare(self, cql: str, *, reads: bool) -> PreparedStatement:
        statement = self.session.prepare(cql)
        statement.consistency_level = self._read if reads else self._write
        # Values are fixed before sending and rows are keyed by the player's sequence number,
        # so sending again writes the same row. The conditional insert is the exception: a
        # retried one may report "not applied" for its own write, which still names its day.
        statement.is_idempotent = True
        return statement


_logs: WeakKeyDictionary[History, PlaybackLog] = WeakKeyDictionary()
_logs_lock = threading.Lock()


def playback_log(history: History) -> PlaybackLog:
    """The playback log on `history`'s session, prepared once per `History`."""
    with _logs_lock:
        log = _logs.get(history)
        if log is None:
            log = _logs[history] = PlaybackLog(history)
        return log


def _utc_ms(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {moment.isoformat()} must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
