"""Daily playback quality (QoE) over the playback events of a UTC day, as Mux Data reports it.

Spark reads the day's partitions of `playback_events_by_day` through the connector and reduces
them to one row per session (`session_summaries`); the per-video and whole-day figures are then
made from those rows in pandas by `quality_rollup`, plain code tested by direct calls.
docs/datasets.md defines every column.

Re-running a day gives identical output: seconds are summed as integer milliseconds, bitrate
weights in fixed point, and rows are sorted before anything is added up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from storage.engagement import conform
from storage.playback import (
    EXIT_BEFORE_START,
    FATAL_ERROR,
    FIRST_FRAME,
    PLAYING_TYPES,
    QUALITY_OVERALL_SCHEMA,
    QUALITY_SCHEMA,
    REBUFFER_END,
    REBUFFER_START,
    RENDITION_SWITCH,
    SESSION_START,
)
from storage.spark import CASSANDRA_FORMAT, physical_plan

P95 = 0.95
# Columns of `session_summaries`, one row per (video, session).
SESSION_COLUMNS = (
    "video_id",
    "session_id",
    "events",
    "started",
    "first_frame_ms",
    "fatal_error_ms",
    "exited",
    "playing_ms",
    "rebuffer_ms",
    "bitrate_ms",
    "bitrate_weight",
    "switches",
)


@dataclass(frozen=True)
class QualityDay:
    """One UTC day of playback quality; the frames follow the datasets' schemas."""

    day: date
    per_video: pd.DataFrame
    overall: pd.DataFrame
    events: int
    sessions: int
    scan_plan: str


def read_playback_events(spark: Any, keyspace: str, day: date, buckets: int) -> DataFrame:
    """The playback events of one day, from that day's `(day, bucket)` partitions only."""
    frame = spark.read.format(CASSANDRA_FORMAT).options(
        keyspace=keyspace, table="playback_events_by_day"
    )
    events = frame.load()
    return events.where((events.day == day) & events.bucket.isin(list(range(buckets))))


def session_summaries(events: DataFrame) -> DataFrame:
    """One row per (video, session) of a day's events: did it start, when did the first frame
    and a fatal error come, did the viewer leave first, and how long it played and stalled.

    A stall runs from `rebuffer_start` to the session's next rebuffer event, or to its last
    event when none follows (the viewer left while it stalled). Played milliseconds with a
    known bitrate also sum `ms × kbps` (fixed point) for the time-weighted bitrate.
    """
    session = ["video_id", "session_id"]
    ordered = Window.partitionBy(*session).orderBy("t_ms", "seq")
    last_t = F.max("t_ms").over(Window.partitionBy(*session))
    with_last = events.withColumn("last_t_ms", last_t)
    rebuffer_types = [REBUFFER_START, REBUFFER_END]
    stalls = (
        with_last.where(F.col("event_type").isin(rebuffer_types))
        .withColumn("next_t_ms", F.lead("t_ms").over(ordered))
        .where(F.col("event_type") == REBUFFER_START)
        .groupBy(*session)
        .agg(
            F.sum(F.greatest(F.lit(0), F.coalesce("next_t_ms", "last_t_ms") - F.col("t_ms"))).alias(
                "rebuffer_ms"
            )
        )
    )
    kind = F.col("event_type")
    played = kind.isin(list(PLAYING_TYPES))
    played_ms = F.when(played, F.round(F.col("playing_s") * 1000).cast("long"))
    with_rate = played & F.col("bitrate_kbps").isNotNull()
    summaries = events.groupBy(*session).agg(
        F.count(F.lit(1)).alias("events"),
        F.max(kind == SESSION_START).alias("started"),
        F.min(F.when(kind == FIRST_FRAME, F.col("t_ms"))).alias("first_frame_ms"),
        F.min(F.when(kind == FATAL_ERROR, F.col("t_ms"))).alias("fatal_error_ms"),
        F.max(kind == EXIT_BEFORE_START).alias("exited"),
        F.coalesce(F.sum(played_ms), F.lit(0)).alias("playing_ms"),
        F.coalesce(F.sum(F.when(with_rate, played_ms)), F.lit(0)).alias("bitrate_ms"),
        F.coalesce(
            F.sum(F.when(with_rate, (played_ms * F.col("bitrate_kbps")).cast("decimal(30,6)"))),
            F.lit(0).cast("decimal(30,6)"),
        ).alias("bitrate_weight"),
        F.sum((kind == RENDITION_SWITCH).cast("long")).alias("switches"),
    )
    return (
        summaries.join(stalls, on=session, how="left")
        .withColumn("rebuffer_ms", F.coalesce("rebuffer_ms", F.lit(0)).cast("long"))
        .select(*SESSION_COLUMNS)
    )


def aggregate_quality_day(spark: Any, keyspace: str, day: date, buckets: int) -> QualityDay:
    """Read one day's playback events through the connector and compute both datasets."""
    events = read_playback_events(spark, keyspace, day, buckets)
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    sessions: pd.DataFrame = session_summaries(events).toPandas()
    return QualityDay(
        day=day,
        per_video=conform(quality_rollup(sessions, ["video_id"]), QUALITY_SCHEMA, ["video_id"]),
        overall=conform(quality_rollup(sessions, []), QUALITY_OVERALL_SCHEMA, []),
        events=int(sessions["events"].sum()),
        sessions=len(sessions),
        scan_plan=physical_plan(events),
    )


def quality_rollup(sessions: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The quality figures of `session_summaries` rows, per group of `by` (one row for all of
    them, even none, when `by` is empty).

    A play is a session with `session_start`. Among plays: a start failure has a fatal error
    and no first frame before it; an exit before start has neither a first frame nor such a
    failure, and an `exit_before_start`. TTFF is the first frame's `t` of each play that showed
    one: its median and 95th percentile (linear interpolation between the closest ranks).
    """
    frame = sessions.sort_values(["video_id", "session_id"], kind="stable").copy()
    started = frame["started"].astype(bool)
    first_frame = frame["first_frame_ms"]
    error = frame["fatal_error_ms"]
    failed = started & error.notna() & (first_frame.isna() | (error < first_frame))
    frame["play"] = started
    frame["failure"] = failed
    frame["exit"] = started & first_frame.isna() & ~failed & frame["exited"].astype(bool)
    frame["ttff"] = first_frame.where(started)
    if by:
        groups = [(key, rows) for key, rows in frame.groupby(list(by), sort=True)]
    else:
        groups = [((), frame)]
    rows = []
    for key, group in groups:
        values = key if isinstance(key, tuple) else (key,)
        rows.append(dict(zip(by, values, strict=True)) | _figures(group))
    columns = [*by, *_FIGURES]
    return pd.DataFrame(rows, columns=columns)


_FIGURES = (
    "plays",
    "video_start_failures",
    "exits_before_start",
    "ttff_median_ms",
    "ttff_p95_ms",
    "rebuffer_ratio",
    "avg_bitrate_kbps",
    "rendition_switches",
)


def _figures(group: pd.DataFrame) -> dict[str, Any]:
    ttff = [float(v) for v in group["ttff"] if pd.notna(v)]
    playing_ms = int(group["playing_ms"].sum())
    rebuffer_ms = int(group["rebuffer_ms"].sum())
    bitrate_ms = int(group["bitrate_ms"].sum())
    weight = sum((Decimal(str(w)) for w in group["bitrate_weight"]), Decimal(0))
    return {
        "plays": int(group["play"].sum()),
        "video_start_failures": int(group["failure"].sum()),
        "exits_before_start": int(group["exit"].sum()),
        "ttff_median_ms": quantile(ttff, 0.5),
        "ttff_p95_ms": quantile(ttff, P95),
        "rebuffer_ratio": ratio(rebuffer_ms, playing_ms + rebuffer_ms),
        "avg_bitrate_kbps": None if bitrate_ms == 0 else float(weight / bitrate_ms),
        "rendition_switches": int(group["switches"].sum()),
    }


def quantile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile of `values`, interpolating linearly between the closest ranks (what
    Spark's `percentile` and numpy's default do); None for no values."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must lie in [0, 1], not {q}")
    if not values:
        return None
    return float(np.quantile(np.sort(np.asarray(values, dtype=float)), q))


def ratio(part: float, whole: float) -> float | None:
    """`part / whole`, None when `whole` is 0 (nothing to divide)."""
    if whole == 0:
        return None
    value = part / whole
    if not math.isfinite(value):
        raise ValueError(f"{part} / {whole} is not a finite ratio")
    return value
