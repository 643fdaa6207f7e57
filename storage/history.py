"""Viewing history in Cassandra: resume positions, "continue watching" and raw watch events.

Plain Python over cassandra-driver, callable from a notebook: the API records watches through
`History`, the daily Spark job reads `watch_events_by_day`, and `History.erase_user` serves
erasure requests. docs/history.md explains the data model, consistency levels and TTLs.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from types import TracebackType
from typing import Any, Self
from uuid import UUID

from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, PreparedStatement
from cassandra.util import uuid_from_time

from storage.keyspace import (
    SECONDS_PER_DAY,
    check_keyspace,
    check_schema,
    consistency_level,
    open_session,
)
from storage.round_trips import RoundTrips

EVENT_TYPES = frozenset({"start", "progress", "pause", "resume", "seek", "ended"})
FINISHED_FRACTION = 0.95
# Players report positions a little past the catalogued duration (last frame, rounding of the
# final segment); beyond this margin the report is wrong, not rounded.
POSITION_TOLERANCE_S = 1.0
# What a report may add to watch time beyond what the time since the previous report allows
# (network jitter, a player that reports a moment late).
REPORT_SLACK_S = 2.0
DEFAULT_EVENT_BUCKETS = 8
DEFAULT_EVENT_TTL_DAYS = 400


@dataclass(frozen=True)
class Progress:
    """Where a user is in one video, and how much of it they have watched in total."""

    user_id: UUID
    video_id: UUID
    position_s: float
    duration_s: float
    watched_s: float
    finished: bool
    last_watched_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class HistoryEntry:
    """One video in a user's viewing history, as the "continue watching" row shows it."""

    video_id: UUID
    last_watched_at: datetime
    position_s: float
    duration_s: float
    finished: bool


@dataclass(frozen=True)
class WatchEvent:
    """One player report, exactly as appended to `watch_events_by_day`."""

    day: date
    bucket: int
    user_id: UUID
    event_time: datetime
    event_id: UUID
    video_id: UUID
    session_id: UUID
    position_s: float
    duration_s: float
    watched_delta_s: float
    event_type: str
    client: str | None


def event_bucket(user_id: UUID, buckets: int) -> int:
    """The bucket of a user's events inside a day; stable across processes and Python runs."""
    return zlib.crc32(user_id.bytes) % buckets


class History:
    """Viewing history of every user: progress, "continue watching", watch events, erasure.

    The session must use the driver's default (named tuple) row factory and a keyspace whose
    schema `apply_schema` has applied. Reads run at ``read_consistency``, writes (every batch
    included) at ``write_consistency``. `close()` shuts the cluster down only when `connect`
    created it.
    """

    def __init__(
        self,
        session: Session,
        keyspace: str,
        *,
        buckets: int = DEFAULT_EVENT_BUCKETS,
        event_ttl_days: int = DEFAULT_EVENT_TTL_DAYS,
        read_consistency: str = "LOCAL_QUORUM",
        write_consistency: str = "LOCAL_QUORUM",
    ) -> None:
        check_keyspace(keyspace)
        self.read_consistency = consistency_level(read_consistency)
        self.write_consistency = consistency_level(write_consistency)
        if buckets < 1:
            raise ValueError(f"buckets must be at least 1, not {buckets}")
        if event_ttl_days < 1:
            raise ValueError(f"event_ttl_days must be at least 1, not {event_ttl_days}")
        self.session = session
        # Every request of the session, counted (a driver callback).
        self.round_trips = RoundTrips()
        session.add_request_init_listener(self.round_trips.add)
        self.keyspace = keyspace
        self.buckets = buckets
        self.event_ttl_s = event_ttl_days * SECONDS_PER_DAY
        self._cluster: Cluster | None = None
        ks = keyspace
        self._select_progress = self._prepare(
            "SELECT user_id, video_id, position_s, duration_s, watched_s, finished, "
            f"last_watched_at, updated_at FROM {ks}.progress_by_user_video "
            "WHERE user_id = ? AND video_id = ?"
        )
        self._insert_progress = self._prepare(
            f"INSERT INTO {ks}.progress_by_user_video (user_id, video_id, position_s, "
            "duration_s, watched_s, finished, last_watched_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self._update_watched = self._prepare(
            f"UPDATE {ks}.progress_by_user_video SET watched_s = ?, updated_at = ? "
            "WHERE user_id = ? AND video_id = ?"
        )
        self._select_history = self._prepare(
            "SELECT video_id, last_watched_at, position_s, duration_s, finished "
            f"FROM {ks}.history_by_user WHERE user_id = ?"
        )
        self._insert_history = self._prepare(
            f"INSERT INTO {ks}.history_by_user (user_id, last_watched_at, video_id, position_s, "
            "duration_s, finished) VALUES (?, ?, ?, ?, ?, ?)"
        )
        self._delete_history_row = self._prepare(
            f"DELETE FROM {ks}.history_by_user "
            "WHERE user_id = ? AND last_watched_at = ? AND video_id = ?"
        )
        self._insert_event = self._prepare(
            f"INSERT INTO {ks}.watch_events_by_day (day, bucket, user_id, event_time, event_id, "
            "video_id, session_id, position_s, duration_s, watched_delta_s, event_type, client) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"
        )
        self._add_event_day = self._prepare(
            f"UPDATE {ks}.event_days_by_user USING TTL ? SET buckets = buckets + ? "
            "WHERE user_id = ? AND day = ?"
        )
        self._select_events = self._prepare(
            "SELECT day, bucket, user_id, event_time, event_id, video_id, session_id, "
            "position_s, duration_s, watched_delta_s, event_type, client "
            f"FROM {ks}.watch_events_by_day WHERE day = ? AND bucket = ?"
        )
        self._count_events = self._prepare(
            f"SELECT COUNT(*) FROM {ks}.watch_events_by_day WHERE day = ? AND bucket = ?"
        )
        self._select_event_days = self._prepare(
            f"SELECT day, buckets FROM {ks}.event_days_by_user WHERE user_id = ?"
        )
        self._delete_user_events = self._prepare(
            f"DELETE FROM {ks}.watch_events_by_day WHERE day = ? AND bucket = ? AND user_id = ?"
        )
        self._delete_progress = self._prepare(
            f"DELETE FROM {ks}.progress_by_user_video WHERE user_id = ?"
        )
        self._delete_history = self._prepare(f"DELETE FROM {ks}.history_by_user WHERE user_id = ?")
        self._delete_event_days = self._prepare(
            f"DELETE FROM {ks}.event_days_by_user WHERE user_id = ?"
        )

    @classmethod
    def connect(
        cls,
        contact_points: list[str],
        port: int,
        keyspace: str,
        *,
        local_dc: str | None = None,
        buckets: int = DEFAULT_EVENT_BUCKETS,
        event_ttl_days: int = DEFAULT_EVENT_TTL_DAYS,
        read_consistency: str = "LOCAL_QUORUM",
        write_consistency: str = "LOCAL_QUORUM",
    ) -> History:
        """Connect to the cluster and open History on a keyspace at this release's schema
        (`SchemaOutOfDate` otherwise: schema changes are `reelflow migrate`'s alone)."""
        session = open_session(contact_points, port, local_dc)
        try:
            check_schema(session, keyspace)
            history = cls(
                session,
                keyspace,
                buckets=buckets,
                event_ttl_days=event_ttl_days,
                read_consistency=read_consistency,
                write_consistency=write_consistency,
            )
        except BaseException:
            session.cluster.shutdown()
            raise
        history._cluster = session.cluster
        return history

    def ping(self) -> None:
        """Raise unless Cassandra answers a query."""
        self.session.execute("SELECT release_version FROM system.local", timeout=5)

    def close(self) -> None:
        """Shut down the cluster connection if `connect` opened it."""
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def record_watch(
        self,
        user_id: UUID,
        video_id: UUID,
        position_s: float,
        duration_s: float,
        *,
        watched_delta_s: float,
        session_id: UUID,
        event_type: str = "progress",
        at: datetime | None = None,
        client: str | None = None,
        max_rate: float | None = None,
    ) -> Progress:
        """Record one player report: update progress and history, append the watch event.

        `position_s` is where playback is, `watched_delta_s` the seconds actually played since
        the previous report of this session. `at` (timezone-aware, default now) is when the
        player reported; a report older than the stored one (offline playback synced late)
        adds its watch time and event but does not move the resume position back.

        With `max_rate` (the fastest playback speed a player offers), a report adds at most
        `max_rate` times the seconds since the previous report of the video, plus
        `REPORT_SLACK_S`: watch time cannot grow faster than a clock, whatever the client says.
        """
        _check_report(position_s, duration_s, watched_delta_s, event_type)
        now = _now()
        event_time = now if at is None else _utc_ms(at)
        position_s = min(float(position_s), float(duration_s))
        previous = self.get_progress(user_id, video_id)
        if max_rate is not None and previous is not None and event_time >= previous.last_watched_at:
            elapsed_s = (event_time - previous.last_watched_at).total_seconds()
            watched_delta_s = min(watched_delta_s, max_rate * elapsed_s + REPORT_SLACK_S)
        watched_s = (previous.watched_s if previous else 0.0) + watched_delta_s

        progress_batch = self._batch()
        if previous is not None and event_time < previous.last_watched_at:
            progress = Progress(
                user_id,
                video_id,
                previous.position_s,
                previous.duration_s,
                watched_s,
                previous.finished,
                previous.last_watched_at,
                now,
            )
            progress_batch.add(self._update_watched, (watched_s, now, user_id, video_id))
        else:
            finished = event_type == "ended" or position_s >= FINISHED_FRACTION * duration_s
            progress = Progress(
                user_id,
                video_id,
                position_s,
                float(duration_s),
                watched_s,
                finished,
                event_time,
                now,
            )
            # An equal timestamp is the same history row: deleting it in the same batch would
            # shadow the insert (a tombstone wins a timestamp tie).
            if previous is not None and previous.last_watched_at != event_time:
                progress_batch.add(
                    self._delete_history_row, (user_id, previous.last_watched_at, video_id)
                )
            progress_batch.add(
                self._insert_history,
                (user_id, event_time, video_id, position_s, progress.duration_s, finished),
            )
            progress_batch.add(
                self._insert_progress,
                (
                    user_id,
                    video_id,
                    position_s,
                    progress.duration_s,
                    watched_s,
                    finished,
                    event_time,
                    now,
                ),
            )

        day = event_time.date()
        bucket = event_bucket(user_id, self.buckets)
        # The day index shares the user's partition with progress and history, so the batch is
        # one mutation, applied atomically without a batch log. It is written before the event:
        # erase_user can always find every partition holding the user's events.
        progress_batch.add(self._add_event_day, (self.event_ttl_s, {bucket}, user_id, day))
        self.session.execute(progress_batch)
        self.session.execute(
            self._insert_event,
            (
                day,
                bucket,
                user_id,
                event_time,
                uuid_from_time(event_time),
                video_id,
                session_id,
                float(position_s),
                float(duration_s),
                float(watched_delta_s),
                event_type,
                client,
                self.event_ttl_s,
            ),
        )
        return progress

    def get_progress(self, user_id: UUID, video_id: UUID) -> Progress | None:
        """The user's resume state in one video, or None if they never played it."""
        row = self.session.execute(self._select_progress, (user_id, video_id)).one()
        if row is None:
            return None
        return Progress(
            row.user_id,
            row.video_id,
            row.position_s,
            row.duration_s,
            row.watched_s,
            row.finished,
            _aware(row.last_watched_at),
            _aware(row.updated_at),
        )

    def continue_watching(
        self, user_id: UUID, limit: int = 20, include_finished: bool = False
    ) -> list[HistoryEntry]:
        """The videos the user watched most recently, newest first, each once."""
        _check_limit(limit)
        return list(islice(self._entries(user_id, include_finished, limit), limit))

    def history(self, user_id: UUID, limit: int | None = None) -> list[HistoryEntry]:
        """Every video the user has watched, newest first (finished ones too): the export."""
        if limit is None:
            return list(self._entries(user_id, include_finished=True, page_size=1000))
        _check_limit(limit)
        return list(islice(self._entries(user_id, include_finished=True, page_size=limit), limit))

    def events_for_day(self, day: date) -> list[WatchEvent]:
        """Every watch event of one UTC day, from all its buckets, ordered by event time."""
        events = [
            WatchEvent(
                row.day.date(),
                row.bucket,
                row.user_id,
                _aware(row.event_time),
                row.event_id,
                row.video_id,
                row.session_id,
                row.position_s,
                row.duration_s,
                row.watched_delta_s,
                row.event_type,
                row.client,
            )
            for result in self._each_bucket(self._select_events, day)
            for row in result
        ]
        events.sort(key=lambda e: (e.event_time, e.event_id.int))
        return events

    def count_events_for_day(self, day: date) -> int:
        """The number of watch events of one UTC day."""
        return sum(result.one().count for result in self._each_bucket(self._count_events, day))

    def erase_user(self, user_id: UUID) -> list[date]:
        """Remove the user's rows from every history table; returns the days they had events on,
        whose aggregates must be rebuilt.

        The day index goes last so that an erasure interrupted half-way can simply be run
        again. Writes for the user must have stopped first, or they can re-create rows.
        """
        event_days = list(self.session.execute(self._select_event_days, (user_id,)))
        partitions = [
            (row.day, bucket, user_id) for row in event_days for bucket in row.buckets or ()
        ]
        if partitions:
            execute_concurrent_with_args(
                self.session, self._delete_user_events, partitions, raise_on_first_error=True
            )
        batch = self._batch()
        batch.add(self._delete_progress, (user_id,))
        batch.add(self._delete_history, (user_id,))
        self.session.execute(batch)
        self.session.execute(self._delete_event_days, (user_id,))
        return sorted({row.day.date() for row in event_days})

    def _entries(
        self, user_id: UUID, include_finished: bool, page_size: int
    ) -> Iterator[HistoryEntry]:
        statement = self._select_history.bind((user_id,))
        statement.fetch_size = max(page_size, 10)
        # Two concurrent reports of one video can each insert a history row; the newest wins.
        seen: set[UUID] = set()
        for row in self.session.execute(statement):
            if row.video_id in seen:
                continue
            seen.add(row.video_id)
            if row.finished and not include_finished:
                continue
            yield HistoryEntry(
                row.video_id,
                _aware(row.last_watched_at),
                row.position_s,
                row.duration_s,
                row.finished,
            )

    def _each_bucket(self, statement: PreparedStatement, day: date) -> list[Any]:
        results = execute_concurrent_with_args(
            self.session,
            statement,
            [(day, bucket) for bucket in range(self.buckets)],
            raise_on_first_error=True,
        )
        return [result for _, result in results]

    def _prepare(self, cql: str) -> PreparedStatement:
        statement = self.session.prepare(cql)
        reads = cql.lstrip().upper().startswith("SELECT")
        statement.consistency_level = self.read_consistency if reads else self.write_consistency
        # Every statement writes values fixed before it is sent (watched_s is summed by the
        # caller; event ids are made once), so sending it again changes nothing: the driver may
        # retry it on another replica when its coordinator dies mid-request.
        statement.is_idempotent = True
        return statement

    def _batch(self) -> BatchStatement:
        batch = BatchStatement(
            batch_type=BatchType.LOGGED, consistency_level=self.write_consistency
        )
        batch.is_idempotent = True  # made of the statements above
        return batch


def _check_report(
    position_s: float, duration_s: float, watched_delta_s: float, event_type: str
) -> None:
    for name, value in (
        ("position_s", position_s),
        ("duration_s", duration_s),
        ("watched_delta_s", watched_delta_s),
    ):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, not {value}")
        if value < 0:
            raise ValueError(f"{name} must not be negative, not {value}")
    if duration_s == 0:
        raise ValueError("duration_s must be greater than 0")
    if position_s > duration_s + POSITION_TOLERANCE_S:
        raise ValueError(
            f"position_s {position_s} is past the end of the video (duration_s {duration_s})"
        )
    if event_type not in EVENT_TYPES:
        raise ValueError(
            f"event_type {event_type!r} is not one of {', '.join(sorted(EVENT_TYPES))}"
        )


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def _now() -> datetime:
    return _utc_ms(datetime.now(UTC))


def _utc_ms(moment: datetime) -> datetime:
    # Cassandra timestamps hold milliseconds; truncating here keeps the value returned to the
    # caller equal to the one read back later (and the history row key deletable).
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {moment.isoformat()} must be timezone-aware")
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)
