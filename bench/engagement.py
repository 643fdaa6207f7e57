"""Engagement benchmark: a day of watch events aggregated in Spark against the driver + pandas.

    .venv/bin/python bench/engagement.py [--sizes 1e5,1e6] [--record-sample 2000] [--keep]
                                         [--cassandra-nodes 1] [--ingest-duration 10]

Needs the dev stack (Cassandra, PostgreSQL, Redis) and wrk. With `--cassandra-nodes 2` or 3
everything below runs on a ring of that many nodes (RF the same) that the benchmark starts on
127.0.0.1-3 with ports of its own, and stops at the end.

ingest: the watch reports accepted per second by `reelflow api --workers 2` under wrk (16
connections, each request a signed-in viewer's report), for `--ingest-duration` seconds after a
warm-up, on the dev stack's one node and then on the ring, in the same run: requests/s, reports
accepted (2xx) and stored per second (the day's events counted in Cassandra before and after),
latency, and the ring's rate over the one node's.

For each size N, in a scratch keyspace, one UTC day of N
generated watch events (`storage.seed`: power-law popularity, sessions, partial and full
watches) is written and aggregated twice into the same outputs (per-viewer interactions with
pseudonyms, per-video engagement):

- write: the events inserted through the Python driver, concurrently, straight into
  `watch_events_by_day` (the table the aggregation reads). `--record-sample` reports also go
  through `History.record_watch`, the API's path (a read and two writes per report), for scale.
- spark: `storage.engagement.aggregate_day` (what the `daily_viewing` asset runs): the connector
  reads the day's partitions, Spark aggregates, the results are collected to the driver.
- baseline: the day read with the Python driver (paged, every bucket), into pandas, and the
  same aggregation in pandas on one core.

Both aggregations are compared (they must agree), and the table shows events/s per path, the
ratio spark/baseline, and how each path scales from one size to the next (time ratio over size
ratio: 1.0 is linear). The machine is shared, so load averages are printed throughout.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
import pandas as pd
from cassandra.concurrent import execute_concurrent
from cassandra.query import BatchStatement, BatchType
from cassandra.util import uuid_from_time
from portpicker import pick_unused_port
from pyspark.sql import SparkSession

# Run as a script, this file's directory comes first on the path, and `bench/api.py` would be
# imported as the `api` package: look packages up from the project root instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import api as api_bench  # noqa: E402
from bench.scratch import scratch_ring, scratch_settings  # noqa: E402
from reelflow import connect  # noqa: E402
from reelflow.settings import Settings  # noqa: E402
from storage.engagement import (  # noqa: E402
    ENGAGEMENT_SCHEMA,
    INTERACTIONS_SCHEMA,
    VIEW_MIN_WATCHED_S,
    aggregate_day,
    conform,
    pseudonym_key,
    pseudonymise,
)
from storage.history import FINISHED_FRACTION, History, event_bucket  # noqa: E402
from storage.keyspace import CONSISTENCY, apply_schema  # noqa: E402
from storage.seed import Report, generate_reports, make_videos, write_reports  # noqa: E402

FIRST_DAY = date(2026, 1, 1)
# The generator averages about 30 reports per viewer and day.
EVENTS_PER_USER = 30
VIDEOS = 2000
WRITE_CONCURRENCY = 32
# Rows per batch: about 4 KiB, under Cassandra's default batch size warning (5 KiB).
BATCH_ROWS = 30
READ_PAGE = 5000
INGEST_WORKERS = 2
INGEST_CONNECTIONS = 16
INGEST_VIDEOS = 200
INGEST_VIEWERS = 200


@dataclass
class Row:
    size: int
    write_s: float
    spark_s: float
    baseline_read_s: float | None = None
    baseline_agg_s: float | None = None
    agree: bool | None = None

    @property
    def baseline_s(self) -> float | None:
        if self.baseline_read_s is None or self.baseline_agg_s is None:
            return None
        return self.baseline_read_s + self.baseline_agg_s


def main() -> None:
    args = _parse_args()
    sizes = [int(float(size)) for size in args.sizes.split(",")]
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    print(f"load average at start: {_loadavg()}")
    with ExitStack() as stack:
        single = Settings()
        settings = single
        if args.cassandra_nodes > 1:
            settings = stack.enter_context(scratch_ring(single, args.cassandra_nodes))
            connect.migrate_history(settings)
        if args.ingest_duration:
            _ingest([single] if settings is single else [single, settings], args)
        _aggregation(settings, sizes, args)
    print(f"load average at end: {_loadavg()}")


def _aggregation(settings: Settings, sizes: list[int], args: argparse.Namespace) -> None:
    session = connect.cassandra_session(settings)
    keyspace = f"reelflow_bench_{uuid4().hex[:12]}"
    apply_schema(session, keyspace, settings.cassandra_replication)
    history = History(session, keyspace, buckets=settings.cassandra_event_buckets)
    key = pseudonym_key(settings.url_signing_secret.get_secret_value())
    videos = make_videos(VIDEOS, seed=1)
    rows: list[Row] = []
    try:
        if args.record_sample:
            _record_sample(history, videos, args.record_sample)
        started = time.perf_counter()
        spark = _spark(settings)
        print(f"spark session ({settings.spark_master}): {time.perf_counter() - started:.1f} s")
        # The first job pays for class loading and the connector's session: not part of a size.
        warm_day = FIRST_DAY - timedelta(days=1)
        _write_events(history, _day_reports(warm_day, 2000, videos))
        aggregate_day(spark, keyspace, warm_day, history.buckets, key)
        for index, size in enumerate(sizes):
            day = FIRST_DAY + timedelta(days=index)
            rows.append(_measure(history, spark, keyspace, day, size, videos, key, args))
        _report(rows)
        # Before a ring of the benchmark's own stops under the connector's sessions.
        spark.stop()
    finally:
        if args.keep:
            print(f"kept keyspace {keyspace}")
        else:
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        session.cluster.shutdown()


@dataclass
class Ingest:
    nodes: int
    figures: api_bench.Figures
    stored_per_s: float

    def accepted_per_s(self, seconds: int) -> float:
        return self.figures.rps - self.figures.errors / seconds


def _ingest(clusters: list[Settings], args: argparse.Namespace) -> None:
    """Watch reports through `reelflow api` on each cluster in turn, the same load each time."""
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit(api_bench.INSTALL_WRK)
    load_args = argparse.Namespace(threads=2, connections=INGEST_CONNECTIONS)
    config = api_bench.Config("after", INGEST_WORKERS)
    results = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ingest-")))
        base = stack.enter_context(scratch_settings(clusters[0], directory, keep=False))
        world = api_bench.seed(base, videos=INGEST_VIDEOS, users=INGEST_VIEWERS)
        print(f"\ningest: {INGEST_VIEWERS} viewers, {INGEST_VIDEOS} videos, {config.label}")
        for cluster in clusters:
            # The scratch keyspace on the dev stack's node; the ring's own otherwise.
            settings = base if cluster is clusters[0] else base.with_cassandra_of(cluster)
            port = pick_unused_port()
            command = api_bench.server_command(config, port, None)
            with (
                api_bench.server(config, command, settings, port),
                connect.history(settings) as history,
            ):
                script = api_bench.write_script(
                    directory,
                    "watch",
                    api_bench.requests_of("watch", world, api_bench.access_tokens(world)),
                )
                url = f"http://127.0.0.1:{port}"
                api_bench.load(wrk, url, script, load_args, api_bench.WARMUP_S)
                days = {datetime.now(UTC).date()}
                before = sum(history.count_events_for_day(day) for day in days)
                figures = api_bench.load(wrk, url, script, load_args, args.ingest_duration)
                days.add(datetime.now(UTC).date())
                stored = sum(history.count_events_for_day(day) for day in days) - before
            result = Ingest(cluster.cassandra_nodes, figures, stored / args.ingest_duration)
            results.append(result)
            print(
                f"  {result.nodes} node(s): {figures.rps:7.0f} req/s, accepted "
                f"{result.accepted_per_s(args.ingest_duration):7.0f} ev/s, stored "
                f"{result.stored_per_s:7.0f} ev/s, p50 {figures.p50_ms:6.1f} ms, p99 "
                f"{figures.p99_ms:6.1f} ms, errors {figures.errors}, load {_loadavg()}"
            )
    if len(results) == 2:
        one, ring = (r.accepted_per_s(args.ingest_duration) for r in results)
        print(f"  ring/one node accepted: {ring / one:.2f}")


def _measure(
    history: History,
    spark: Any,
    keyspace: str,
    day: date,
    size: int,
    videos: list[Any],
    key: bytes,
    args: argparse.Namespace,
) -> Row:
    print(f"\n{size:,} events on {day}")
    started = time.perf_counter()
    written = _write_events(history, _day_reports(day, size, videos))
    write_s = time.perf_counter() - started
    print(f"  write     {written:>10,} events {write_s:8.1f} s  load {_loadavg()}")

    started = time.perf_counter()
    viewing = aggregate_day(spark, keyspace, day, history.buckets, key)
    spark_s = time.perf_counter() - started
    print(f"  spark     {viewing.events:>10,} events {spark_s:8.1f} s  load {_loadavg()}")
    row = Row(size, write_s, spark_s)
    if size > args.baseline_max:
        return row

    started = time.perf_counter()
    events = _driver_read(history, day)
    row.baseline_read_s = time.perf_counter() - started
    started = time.perf_counter()
    interactions, engagement = _pandas_aggregate(events, key)
    row.baseline_agg_s = time.perf_counter() - started
    print(
        f"  baseline  {len(events):>10,} events {row.baseline_s:8.1f} s "
        f"(read {row.baseline_read_s:.1f} s, pandas {row.baseline_agg_s:.1f} s)  load {_loadavg()}"
    )
    row.agree = _same(viewing.engagement, engagement) and _same(viewing.interactions, interactions)
    return row


def _day_reports(day: date, size: int, videos: list[Any]) -> Iterator[Report]:
    users = math.ceil(size / EVENTS_PER_USER * 1.5) + 10
    reports = generate_reports(users, videos, [day], seed=day.toordinal())
    return itertools.islice(reports, size)


def _write_events(history: History, reports: Iterator[Report]) -> int:
    """Insert reports as watch events: concurrent single-partition batches, chunk by chunk.

    Unlogged batches of rows of one (day, bucket) partition are one mutation for Cassandra and
    one request for the driver, which spends most of its time per request, not per row.
    """
    insert = history.session.prepare(
        f"INSERT INTO {history.keyspace}.watch_events_by_day (day, bucket, user_id, event_time, "
        "event_id, video_id, session_id, position_s, duration_s, watched_delta_s, event_type, "
        "client) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    insert.consistency_level = CONSISTENCY
    written = 0
    while chunk := list(itertools.islice(reports, 50_000)):
        partitions: dict[tuple[date, int], list[tuple[Any, ...]]] = {}
        for r in chunk:
            bucket = event_bucket(r.user_id, history.buckets)
            partitions.setdefault((r.at.date(), bucket), []).append(
                (
                    r.at.date(),
                    bucket,
                    r.user_id,
                    r.at,
                    uuid_from_time(r.at),
                    r.video_id,
                    r.session_id,
                    r.position_s,
                    r.duration_s,
                    r.watched_delta_s,
                    r.event_type,
                    r.client,
                )
            )
        batches = []
        for rows in partitions.values():
            for first in range(0, len(rows), BATCH_ROWS):
                batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=CONSISTENCY)
                for row in rows[first : first + BATCH_ROWS]:
                    batch.add(insert, row)
                batches.append((batch, ()))
        execute_concurrent(
            history.session, batches, concurrency=WRITE_CONCURRENCY, raise_on_first_error=True
        )
        written += len(chunk)
    return written


def _record_sample(history: History, videos: list[Any], count: int) -> None:
    reports = list(_day_reports(FIRST_DAY - timedelta(days=2), count, videos))
    started = time.perf_counter()
    write_reports(history, reports)
    elapsed = time.perf_counter() - started
    print(
        f"record_watch (the API's path, one thread): {len(reports):,} reports in {elapsed:.1f} s, "
        f"{len(reports) / elapsed:,.0f}/s"
    )


def _driver_read(history: History, day: date) -> pd.DataFrame:
    """The day, bucket after bucket, paged, straight into columns."""
    select = history.session.prepare(
        "SELECT user_id, video_id, session_id, event_time, position_s, duration_s, "
        f"watched_delta_s, event_type FROM {history.keyspace}.watch_events_by_day "
        "WHERE day = ? AND bucket = ?"
    )
    select.consistency_level = CONSISTENCY
    select.fetch_size = READ_PAGE
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "user_id",
            "video_id",
            "session_id",
            "event_time",
            "position_s",
            "duration_s",
            "watched_delta_s",
            "event_type",
        )
    }
    for bucket in range(history.buckets):
        for row in history.session.execute(select, (day, bucket)):
            for name, value in zip(columns, row, strict=True):
                columns[name].append(value)
    frame = pd.DataFrame(columns)
    for name in ("user_id", "video_id", "session_id"):
        frame[name] = frame[name].astype(str)
    frame["event_time"] = pd.to_datetime(frame["event_time"]).dt.tz_localize("UTC")
    return frame


def _pandas_aggregate(events: pd.DataFrame, key: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same definitions as storage.engagement, in pandas."""
    events = events.assign(
        watched_ms=np.round(events["watched_delta_s"] * 1000).astype("int64"),
        ended=events["event_type"] == "ended",
    )
    viewers = (
        events.groupby(["video_id", "user_id"], sort=False)
        .agg(
            events=("event_type", "size"),
            sessions=("session_id", "nunique"),
            watched_ms=("watched_ms", "sum"),
            max_position_s=("position_s", "max"),
            duration_s=("duration_s", "max"),
            ended=("ended", "max"),
            first_watched_at=("event_time", "min"),
            last_watched_at=("event_time", "max"),
        )
        .reset_index()
    )
    duration = viewers["duration_s"]
    viewers["watched_s"] = viewers["watched_ms"] / 1000.0
    viewers["max_progress"] = np.minimum(1.0, viewers["max_position_s"] / duration)
    viewers["completion"] = np.minimum(1.0, viewers["watched_s"] / duration)
    viewers["viewed"] = viewers["watched_s"] >= np.minimum(
        VIEW_MIN_WATCHED_S, duration * FINISHED_FRACTION
    )
    viewers["finished"] = viewers["ended"] | (
        viewers["max_position_s"] >= duration * FINISHED_FRACTION
    )
    engagement = (
        viewers.groupby("video_id", sort=False)
        .agg(
            events=("events", "sum"),
            views=("viewed", "sum"),
            unique_viewers=("user_id", "size"),
            sessions=("sessions", "sum"),
            watched_ms=("watched_ms", "sum"),
            median_watched_s=("watched_s", "median"),
            avg_completion=("completion", "mean"),
            finishes=("finished", "sum"),
            duration_s=("duration_s", "max"),
        )
        .reset_index()
    )
    engagement["watched_s"] = engagement["watched_ms"] / 1000.0
    viewers.insert(0, "user_pseudonym", pseudonymise(viewers["user_id"], key))
    return (
        conform(viewers, INTERACTIONS_SCHEMA, ["video_id", "user_pseudonym"]),
        conform(engagement, ENGAGEMENT_SCHEMA, ["video_id"]),
    )


def _same(ours: pd.DataFrame, theirs: pd.DataFrame) -> bool:
    # Spark averages completion in fixed point (9 decimals), pandas in floating point.
    try:
        pd.testing.assert_frame_equal(
            ours.reset_index(drop=True), theirs.reset_index(drop=True), rtol=1e-6
        )
    except AssertionError as error:
        print(f"  outputs differ: {str(error)[:500]}")
        return False
    return True


def _spark(settings: Settings) -> Any:
    builder = SparkSession.builder
    for name, value in connect.spark_config(settings).items():
        builder = builder.config(name, value)
    return builder.getOrCreate()


def _report(rows: list[Row]) -> None:
    print()
    header = (
        f"{'events':>10} {'write ev/s':>11} {'spark ev/s':>11} {'base ev/s':>10} "
        f"{'spark/base':>10} {'spark scaling':>13} {'base scaling':>12} {'agree':>6}"
    )
    print(header)
    previous: Row | None = None
    for row in rows:
        base = row.baseline_s
        print(
            f"{row.size:>10,} {row.size / row.write_s:>11,.0f} {row.size / row.spark_s:>11,.0f} "
            f"{_rate(row.size, base):>10} {_ratio(base, row.spark_s):>10} "
            f"{_scaling(previous, row, 'spark_s'):>13} {_scaling(previous, row, 'baseline_s'):>12} "
            f"{'-' if row.agree is None else 'yes' if row.agree else 'NO':>6}"
        )
        previous = row
    print(
        "\nspark/base: how many times faster Spark aggregates a day than driver + pandas."
        "\nscaling: (time ratio) / (size ratio) against the previous size; 1.0 is linear, below 1"
        " means fixed costs (job start-up, connector session) are being amortised."
    )


def _rate(size: int, seconds: float | None) -> str:
    return "-" if seconds is None else f"{size / seconds:,.0f}"


def _ratio(baseline: float | None, ours: float) -> str:
    return "-" if baseline is None else f"{baseline / ours:.2f}"


def _scaling(previous: Row | None, row: Row, attribute: str) -> str:
    if previous is None:
        return "-"
    before, now = getattr(previous, attribute), getattr(row, attribute)
    if before is None or now is None:
        return "-"
    return f"{(now / before) / (row.size / previous.size):.2f}"


def _loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="1e5,1e6",
        help="comma-separated event counts, one day each (the issue's full run: 1e5,1e6,5e6)",
    )
    parser.add_argument(
        "--baseline-max",
        type=float,
        default=5e6,
        help="skip the driver + pandas baseline above this many events",
    )
    parser.add_argument(
        "--record-sample",
        type=int,
        default=2000,
        help="reports also sent through History.record_watch, for its rate (0: skip)",
    )
    parser.add_argument(
        "--cassandra-nodes",
        type=int,
        choices=(1, 2, 3),
        default=1,
        help="run on a ring of this many nodes the benchmark starts (1: the dev stack's node)",
    )
    parser.add_argument(
        "--ingest-duration",
        type=int,
        default=10,
        help="seconds of watch reports through the API on each cluster (0: skip)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch keyspace")
    return parser.parse_args()


if __name__ == "__main__":
    main()
