"""The playback quality stage: a known day of player events in Cassandra -> exact Parquet rows.

The expected figures are worked out by hand from the sessions the test records (through the
same `PlaybackLog` the API uses, at fixed server times), and every asset check must pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from cassandra.cluster import Session
from dagster import materialize

from assets.playback import daily_playback_quality
from cli.demo.lifecycle import stop_spark
from pipelines.resources import resources_for
from reelflow.settings import Settings
from storage.engagement import partition_folder, read_partition
from storage.history import History
from storage.keyspace import apply_schema
from storage.objects import LocalObjectStore
from storage.playback import QUALITY, QUALITY_OVERALL, PlaybackEvent, PlaybackLog, playback_log
from tests.fixtures.api_module import isolated_api_settings

# A recent day, whatever the date: the stage refuses days whose events are past their TTL.
DAY = datetime.now(UTC).date() - timedelta(days=30)
NEXT_DAY = DAY + timedelta(days=1)


def at(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


@pytest.fixture(scope="module")
def keyspace(cassandra_session: Session, settings: Settings) -> Iterator[str]:
    name = f"reelflow_test_{uuid4().hex[:16]}"
    apply_schema(cassandra_session, name, settings.cassandra_replication)
    # The Spark session an earlier test left in this process reads Cassandra through a
    # connector session that does not see keyspaces made after it opened: the asset starts a
    # session of its own.
    stop_spark()
    yield name
    cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {name}")


@pytest.fixture(scope="module")
def settings_and_log(
    cassandra_session: Session,
    keyspace: str,
    dev_stack: Settings,
    migrated_template: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Settings, PlaybackLog]]:
    directory = tmp_path_factory.mktemp("playback")
    with isolated_api_settings(dev_stack, migrated_template, keyspace, directory) as settings:
        history = History(
            cassandra_session,
            keyspace,
            buckets=settings.cassandra_event_buckets,
            event_ttl_days=settings.watch_event_ttl_days,
        )
        yield settings, playback_log(history)


class PlayerSession:
    """One player session: its events numbered as the player numbers them."""

    def __init__(self, log: PlaybackLog, video: UUID) -> None:
        self.log, self.video, self.id, self.seq = log, video, uuid4(), 0

    def send(self, when: datetime, *events: tuple[str, int, dict[str, Any]]) -> None:
        batch = []
        for kind, t, values in events:
            batch.append(PlaybackEvent(self.id, self.seq, self.video, kind, t, **values))
            self.seq += 1
        self.log.record(batch, at=when)


def beat(kind: str, t: int, playing_s: float, kbps: float) -> tuple[str, int, dict[str, Any]]:
    return (kind, t, {"playing_s": playing_s, "bitrate_kbps": kbps})


def plain(kind: str, t: int) -> tuple[str, int, dict[str, Any]]:
    return (kind, t, {})


def test_a_day_of_sessions_gives_exact_quality_figures(
    settings_and_log: tuple[Settings, PlaybackLog],
) -> None:
    settings, log = settings_and_log
    v1, v2 = uuid4(), uuid4()
    noon = at(DAY, 12)
    # v1, s1: first frame at 500 ms; 9 s at 1000 kbps, a switch to 3000, a 2 s stall, 4 s more.
    s1 = PlayerSession(log, v1)
    s1.send(
        noon,
        plain("session_start", 0),
        plain("first_frame", 500),
        beat("heartbeat", 10_000, 9.0, 1000),
        ("rendition_switch", 10_001, {"bitrate_kbps": 3000.0}),
    )
    s1.send(
        noon + timedelta(seconds=10),
        plain("rebuffer_start", 12_000),
        plain("rebuffer_end", 14_000),
        beat("end", 20_000, 4.0, 3000),
    )
    # The same batch again (a retry): nothing counts twice.
    s1.seq = 4
    s1.send(
        noon + timedelta(seconds=11),
        plain("rebuffer_start", 12_000),
        plain("rebuffer_end", 14_000),
        beat("end", 20_000, 4.0, 3000),
    )
    # v1, s2: first frame at 1500 ms, 3 s played, then a stall until the viewer leaves (3 s).
    s2 = PlayerSession(log, v1)
    s2.send(
        noon,
        plain("session_start", 0),
        plain("first_frame", 1500),
        plain("rebuffer_start", 5000),
        beat("end", 8000, 3.0, 1000),
    )
    # v1, s3: a fatal error before any frame; s4: the viewer left before the first frame.
    s3 = PlayerSession(log, v1)
    s3.send(noon, plain("session_start", 0), ("fatal_error", 2000, {"error_code": "1002"}))
    s4 = PlayerSession(log, v1)
    s4.send(noon, plain("session_start", 0), plain("exit_before_start", 3000))
    # v2, s5: first frame at 2500 ms, 10 s at 500 kbps.
    s5 = PlayerSession(log, v2)
    s5.send(
        noon,
        plain("session_start", 0),
        plain("first_frame", 2500),
        beat("heartbeat", 12_500, 10.0, 500),
        beat("end", 12_600, 0.0, 500),
    )
    # v2, s6: starts a second before midnight and plays after it: all of it belongs to DAY.
    s6 = PlayerSession(log, v2)
    s6.send(at(DAY, 23, 59, 59), plain("session_start", 0))
    s6.send(at(NEXT_DAY, 0, 0, 10), plain("first_frame", 700), beat("end", 6000, 5.0, 500))
    # A session of the next day is not DAY's.
    PlayerSession(log, v2).send(at(NEXT_DAY, 1), plain("session_start", 0))
    assert log.session_day(s6.id) == DAY

    result = materialize(
        [daily_playback_quality],
        partition_key=DAY.isoformat(),
        resources=resources_for(settings),
        raise_on_error=False,
    )
    assert result.success
    checks = {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed
        for e in result.get_asset_check_evaluations()
    }
    assert len(checks) == 10 and all(checks.values()), checks

    store = LocalObjectStore(settings.objects_dir, settings.cdn_base_url, b"unused")
    per_video = read_partition(store, QUALITY, DAY)
    assert per_video is not None
    assert list(per_video["video_id"]) == sorted([str(v1), str(v2)])
    rows = per_video.set_index("video_id").to_dict("index")
    first, second = rows[str(v1)], rows[str(v2)]
    assert (first["plays"], first["video_start_failures"], first["exits_before_start"]) == (
        4,
        1,
        1,
    )
    assert first["ttff_median_ms"] == 1000.0  # of 500 and 1500
    assert first["ttff_p95_ms"] == pytest.approx(500 + 0.95 * 1000)
    assert first["rebuffer_ratio"] == pytest.approx(5 / (16 + 5))  # stalls 2 + 3 s, played 16
    assert first["avg_bitrate_kbps"] == pytest.approx((9 * 1000 + 4 * 3000 + 3 * 1000) / 16)
    assert first["rendition_switches"] == 1
    assert (second["plays"], second["video_start_failures"], second["exits_before_start"]) == (
        2,
        0,
        0,
    )
    assert second["ttff_median_ms"] == 1600.0  # of 700 and 2500
    assert second["ttff_p95_ms"] == pytest.approx(700 + 0.95 * 1800)
    assert second["rebuffer_ratio"] == 0.0
    assert second["avg_bitrate_kbps"] == pytest.approx(500.0)
    assert second["rendition_switches"] == 0

    overall = read_partition(store, QUALITY_OVERALL, DAY)
    assert overall is not None and len(overall) == 1
    day = overall.iloc[0]
    assert (day["plays"], day["video_start_failures"], day["exits_before_start"]) == (6, 1, 1)
    # Over the day's four TTFFs (500, 700, 1500, 2500), not from the videos' medians.
    assert day["ttff_median_ms"] == 1100.0
    assert day["ttff_p95_ms"] == pytest.approx(1500 + 0.85 * 1000)
    assert day["rebuffer_ratio"] == pytest.approx(5 / (31 + 5))
    assert day["avg_bitrate_kbps"] == pytest.approx((24_000 + 7_500) / 31)
    assert day["rendition_switches"] == 1

    materialization = result.asset_materializations_for_node("daily_playback_quality")[0]
    assert materialization.metadata["events"].value == 22
    assert materialization.metadata["sessions"].value == 6
    plan = materialization.metadata["physical_plan"].value
    assert "Cassandra Filters" in plan and '"day" = ?' in plan and '"bucket" IN' in plan

    # Re-running the day writes the same bytes.
    written = {
        key: (store.root / key).read_bytes()
        for dataset in (QUALITY, QUALITY_OVERALL)
        for key in store.list(partition_folder(dataset, DAY))
    }
    assert len(written) == 2
    again = materialize(
        [daily_playback_quality], partition_key=DAY.isoformat(), resources=resources_for(settings)
    )
    assert again.success
    assert {key: (store.root / key).read_bytes() for key in written} == written
