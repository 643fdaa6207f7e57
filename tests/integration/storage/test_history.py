"""History on a real Cassandra node: progress, continue watching, daily events, erasure."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest
from cassandra import Unavailable
from cassandra.cluster import NoHostAvailable, Session

from reelflow import connect
from reelflow.settings import Settings
from storage.history import History, Progress, event_bucket
from storage.keyspace import SchemaOutOfDate, latest_version

DAY_1 = date(2025, 3, 14)
DAY_2 = DAY_1 + timedelta(days=1)
T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
# Too few live replicas for the level: the server's answer, wrapped once the driver has tried
# every host.
REFUSED = (Unavailable, NoHostAvailable)


def watch(
    history: History,
    user_id: UUID,
    video_id: UUID,
    position_s: float,
    at: datetime,
    *,
    duration_s: float = 600.0,
    watched_delta_s: float = 10.0,
    event_type: str = "progress",
) -> Progress:
    return history.record_watch(
        user_id,
        video_id,
        position_s,
        duration_s,
        watched_delta_s=watched_delta_s,
        session_id=uuid4(),
        event_type=event_type,
        at=at,
        client="test",
    )


def users_in_distinct_buckets(count: int, buckets: int) -> list[UUID]:
    chosen: dict[int, UUID] = {}
    while len(chosen) < min(count, buckets):
        user_id = uuid4()
        chosen.setdefault(event_bucket(user_id, buckets), user_id)
    return list(chosen.values())


def rows_of_user(session: Session, keyspace: str, user_id: UUID) -> dict[str, int]:
    counts = {
        table: len(
            session.execute(
                f"SELECT * FROM {keyspace}.{table} WHERE user_id = %s", (user_id,)
            ).all()
        )
        for table in ("progress_by_user_video", "history_by_user", "event_days_by_user")
    }
    counts["events"] = len(
        session.execute(
            f"SELECT * FROM {keyspace}.watch_events_by_day WHERE user_id = %s ALLOW FILTERING",
            (user_id,),
        ).all()
    )
    return counts


def test_second_report_updates_position_and_accumulates_watch_time(history: History) -> None:
    user, video = uuid4(), uuid4()

    first = watch(history, user, video, 30.0, T0, watched_delta_s=30.0)
    second = watch(history, user, video, 75.5, T0 + timedelta(minutes=1), watched_delta_s=45.5)

    stored = history.get_progress(user, video)
    assert stored == second
    assert first.position_s == 30.0
    assert stored is not None
    assert stored.position_s == 75.5
    assert stored.watched_s == 75.5
    assert stored.duration_s == 600.0
    assert stored.finished is False
    assert stored.last_watched_at == T0 + timedelta(minutes=1)
    assert history.get_progress(user, uuid4()) is None
    assert history.get_progress(uuid4(), video) is None


def test_watch_time_grows_no_faster_than_the_clock_at_the_fastest_rate(
    history: History,
) -> None:
    user, video = uuid4(), uuid4()
    session = uuid4()
    for n, delta in enumerate((30.0, 500.0, 4.0)):
        # 5 s apart: at 2x at most 10 s of video, plus the 2 s slack.
        history.record_watch(
            user,
            video,
            30.0 + n,
            600.0,
            watched_delta_s=delta,
            session_id=session,
            at=T0 + timedelta(seconds=5 * n),
            max_rate=2.0,
        )
    stored = history.get_progress(user, video)
    assert stored is not None and stored.watched_s == 30.0 + 12.0 + 4.0
    deltas = [e.watched_delta_s for e in history.events_for_day(T0.date()) if e.user_id == user]
    assert deltas == [30.0, 12.0, 4.0]


def test_finished_at_95_percent_or_on_ended(history: History) -> None:
    user, near_end, ended, rewound = uuid4(), uuid4(), uuid4(), uuid4()

    assert watch(history, user, near_end, 569.0, T0).finished is False
    assert watch(history, user, near_end, 570.0, T0 + timedelta(seconds=1)).finished is True
    assert watch(history, user, ended, 12.0, T0, event_type="ended").finished is True
    watch(history, user, rewound, 599.0, T0)
    assert watch(history, user, rewound, 5.0, T0 + timedelta(seconds=1)).finished is False

    finished = {e.video_id for e in history.history(user) if e.finished}
    assert finished == {near_end, ended}


def test_rewatched_video_moves_to_top_of_continue_watching_once(history: History) -> None:
    user = uuid4()
    a, b, c = uuid4(), uuid4(), uuid4()
    watch(history, user, a, 10.0, T0)
    watch(history, user, b, 20.0, T0 + timedelta(minutes=1))
    watch(history, user, c, 30.0, T0 + timedelta(minutes=2))
    assert [e.video_id for e in history.continue_watching(user)] == [c, b, a]

    watch(history, user, a, 40.0, T0 + timedelta(minutes=3))

    entries = history.continue_watching(user)
    assert [e.video_id for e in entries] == [a, c, b]
    assert entries[0].position_s == 40.0
    assert entries[0].last_watched_at == T0 + timedelta(minutes=3)
    assert [e.video_id for e in history.continue_watching(user, limit=2)] == [a, c]
    assert [e.video_id for e in history.history(user)] == [a, c, b]
    assert [e.video_id for e in history.history(user, limit=1)] == [a]


def test_continue_watching_leaves_out_finished_videos_unless_asked(history: History) -> None:
    user, done, started = uuid4(), uuid4(), uuid4()
    watch(history, user, started, 100.0, T0)
    watch(history, user, done, 600.0, T0 + timedelta(minutes=1), event_type="ended")

    assert [e.video_id for e in history.continue_watching(user)] == [started]
    assert [e.video_id for e in history.continue_watching(user, include_finished=True)] == [
        done,
        started,
    ]
    assert history.continue_watching(uuid4()) == []


def test_repeated_report_with_the_same_time_keeps_the_history_row(history: History) -> None:
    user, video = uuid4(), uuid4()
    watch(history, user, video, 10.0, T0)
    watch(history, user, video, 10.0, T0)

    entries = history.continue_watching(user)
    assert [e.video_id for e in entries] == [video]
    progress = history.get_progress(user, video)
    assert progress is not None
    assert progress.watched_s == 20.0


def test_late_report_adds_watch_time_without_rewinding(history: History) -> None:
    user, video = uuid4(), uuid4()
    watch(history, user, video, 300.0, T0 + timedelta(hours=1), watched_delta_s=60.0)

    late = watch(history, user, video, 50.0, T0, watched_delta_s=50.0)

    assert late.position_s == 300.0
    assert late.watched_s == 110.0
    assert history.get_progress(user, video) == late
    entries = history.continue_watching(user)
    assert [(e.video_id, e.last_watched_at) for e in entries] == [(video, T0 + timedelta(hours=1))]
    assert len(history.events_for_day(DAY_1)) == 2


def test_one_days_events_come_from_every_bucket(history: History) -> None:
    users = users_in_distinct_buckets(4, history.buckets)
    video = uuid4()
    day_1_times = [
        datetime(2025, 3, 14, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 14, 23, 59, 59, 999000, tzinfo=UTC),
        # 01:30 on the 15th at UTC+02:00 is still the 14th in UTC.
        datetime(2025, 3, 15, 1, 30, tzinfo=timezone(timedelta(hours=2))),
    ]
    day_2_times = [datetime(2025, 3, 15, 0, 0, tzinfo=UTC), datetime(2025, 3, 15, 12, tzinfo=UTC)]
    expected_day_1 = set()
    for i, user in enumerate(users):
        for j, at in enumerate(day_1_times):
            position = 10.0 * (i + 1) + j
            watch(history, user, video, position, at)
            expected_day_1.add((user, at.astimezone(UTC), position))
        for at in day_2_times:
            watch(history, user, video, 500.0, at)

    events = history.events_for_day(DAY_1)

    assert {(e.user_id, e.event_time, e.position_s) for e in events} == expected_day_1
    assert len(events) == len(expected_day_1)
    assert {e.day for e in events} == {DAY_1}
    assert len({e.bucket for e in events}) == len(users) > 1
    assert all(e.bucket == event_bucket(e.user_id, history.buckets) for e in events)
    assert [e.event_time for e in events] == sorted(e.event_time for e in events)
    assert {e.video_id for e in events} == {video}
    assert {(e.event_type, e.client, e.watched_delta_s) for e in events} == {
        ("progress", "test", 10.0)
    }
    assert history.count_events_for_day(DAY_1) == len(expected_day_1)
    assert history.count_events_for_day(DAY_2) == len(users) * len(day_2_times)
    assert len(history.events_for_day(DAY_2)) == len(users) * len(day_2_times)
    assert history.events_for_day(DAY_2 + timedelta(days=1)) == []
    assert history.count_events_for_day(DAY_2 + timedelta(days=1)) == 0


def test_erase_user_removes_only_that_users_rows(
    history: History, cassandra_session: Session
) -> None:
    erased, kept = users_in_distinct_buckets(2, history.buckets)
    videos = [uuid4(), uuid4()]
    for user in (erased, kept):
        for i, video in enumerate(videos):
            watch(history, user, video, 60.0, T0 + timedelta(minutes=i))
            watch(history, user, video, 120.0, T0 + timedelta(days=1, minutes=i))
    kept_before = rows_of_user(cassandra_session, history.keyspace, kept)
    assert rows_of_user(cassandra_session, history.keyspace, erased) == kept_before
    assert kept_before == {
        "progress_by_user_video": 2,
        "history_by_user": 2,
        "event_days_by_user": 2,
        "events": 4,
    }

    days = history.erase_user(erased)

    # The days whose aggregates held the user, for the pipeline to rebuild.
    assert days == [DAY_1, DAY_2]
    assert set(rows_of_user(cassandra_session, history.keyspace, erased).values()) == {0}
    assert rows_of_user(cassandra_session, history.keyspace, kept) == kept_before
    assert history.continue_watching(erased) == []
    assert all(history.get_progress(erased, video) is None for video in videos)
    for day in (DAY_1, DAY_2):
        assert {e.user_id for e in history.events_for_day(day)} == {kept}
        assert history.count_events_for_day(day) == 2
    assert [e.video_id for e in history.continue_watching(kept)] == videos[::-1]
    assert history.erase_user(erased) == []


def test_events_expire_after_the_ttl(history: History, cassandra_session: Session) -> None:
    user = uuid4()
    watch(history, user, uuid4(), 10.0, T0)

    row = cassandra_session.execute(
        f"SELECT TTL(video_id) AS ttl FROM {history.keyspace}.watch_events_by_day "
        "WHERE day = %s AND bucket = %s",
        (DAY_1, event_bucket(user, history.buckets)),
    ).one()
    assert history.event_ttl_s - 60 < row.ttl <= history.event_ttl_s


@pytest.mark.parametrize(
    ("position_s", "duration_s", "watched_delta_s", "event_type", "at", "message"),
    [
        (-1.0, 600.0, 1.0, "progress", T0, "position_s must not be negative"),
        (10.0, -600.0, 1.0, "progress", T0, "duration_s must not be negative"),
        (10.0, 600.0, -1.0, "progress", T0, "watched_delta_s must not be negative"),
        (math.nan, 600.0, 1.0, "progress", T0, "position_s must be a finite number"),
        (10.0, math.inf, 1.0, "progress", T0, "duration_s must be a finite number"),
        (10.0, 600.0, math.nan, "progress", T0, "watched_delta_s must be a finite number"),
        (10.0, 0.0, 1.0, "progress", T0, "duration_s must be greater than 0"),
        (602.0, 600.0, 1.0, "progress", T0, "past the end of the video"),
        (10.0, 600.0, 1.0, "rewind", T0, "event_type 'rewind' is not one of"),
        (10.0, 600.0, 1.0, "progress", datetime(2025, 3, 14, 9), "must be timezone-aware"),
    ],
)
def test_invalid_reports_are_rejected_and_not_stored(
    history: History,
    position_s: float,
    duration_s: float,
    watched_delta_s: float,
    event_type: str,
    at: datetime,
    message: str,
) -> None:
    user, video = uuid4(), uuid4()

    with pytest.raises(ValueError, match=message):
        history.record_watch(
            user,
            video,
            position_s,
            duration_s,
            watched_delta_s=watched_delta_s,
            session_id=uuid4(),
            event_type=event_type,
            at=at,
        )

    assert history.get_progress(user, video) is None
    assert history.history(user) == []
    assert history.count_events_for_day(DAY_1) == 0


def test_position_within_tolerance_is_clamped_to_the_duration(history: History) -> None:
    progress = watch(history, uuid4(), uuid4(), 600.5, T0)

    assert progress.position_s == 600.0
    assert progress.finished is True


def test_connect_checks_the_schema_and_serves_history(
    settings: Settings, history_keyspace: str, cassandra_session: Session
) -> None:
    configured = settings.model_copy(update={"cassandra_keyspace": history_keyspace})
    connect.migrate_history(configured)
    newest = latest_version()
    # One release behind: connecting is refused, naming the command that fixes it.
    cassandra_session.execute(
        f"DELETE FROM {history_keyspace}.schema_version WHERE version = %s", (newest,)
    )
    behind = "has no schema" if newest == 1 else f"is at schema version {newest - 1}"
    with pytest.raises(SchemaOutOfDate, match=f"{behind}; this release needs version {newest}"):
        connect.history(configured)
    connect.migrate_history(configured)
    # A newer schema (migrated for the next release, rolled out after this one) is served.
    cassandra_session.execute(
        f"INSERT INTO {history_keyspace}.schema_version (version, name) VALUES (%s, 'next')",
        (newest + 1,),
    )
    user, video = uuid4(), uuid4()

    with connect.history(configured) as history:
        assert history.session.cluster.protocol_version == 5
        watch(history, user, video, 33.0, T0)
        progress = history.get_progress(user, video)

    assert progress is not None
    assert progress.position_s == 33.0
    assert history.session.cluster.is_shutdown


def test_reads_and_writes_run_at_their_configured_consistency(
    history: History, cassandra_session: Session
) -> None:
    """One node holds one replica: a level that needs more fails, for reads and writes apart."""
    user, video = uuid4(), uuid4()
    watch(history, user, video, 20.0, T0)
    keyspace = history.keyspace

    def at(read: str, write: str) -> History:
        return History(cassandra_session, keyspace, read_consistency=read, write_consistency=write)

    strict_writes = at("LOCAL_QUORUM", "TWO")
    assert strict_writes.get_progress(user, video) is not None
    with pytest.raises(REFUSED, match="Cannot achieve consistency level TWO"):
        watch(strict_writes, user, video, 40.0, T0 + timedelta(seconds=10))
    with pytest.raises(REFUSED, match="Cannot achieve consistency level TWO"):
        at("TWO", "LOCAL_QUORUM").get_progress(user, video)
    # The refused write changed nothing.
    progress = history.get_progress(user, video)
    assert progress is not None and progress.position_s == 20.0
    with pytest.raises(ValueError, match="unknown consistency level 'FEW'"):
        at("FEW", "ONE")
