"""Daily viewing aggregates over watch events, pseudonymisation and the analyst datasets.

Plain Python over Spark, pandas and pyarrow, callable from a notebook: `aggregate_day` turns one
UTC day of `watch_events_by_day` into per-viewer interactions and per-video engagement,
`trending_scores` ranks videos over a window of engagement days, and `write_partition` /
`read_partition` keep the Parquet datasets under `analytics/<dataset>/day=YYYY-MM-DD/` in any
`ObjectStore`. assets/engagement.py wires them into Dagster; docs/datasets.md documents every
column.

Re-running a day gives identical output: seconds are summed as integer milliseconds and
completion is averaged in fixed point, so the result does not depend on the order in which
Spark happens to add rows, and every dataset is written sorted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from storage.community import COMMUNITY, COMMUNITY_SCHEMA
from storage.history import FINISHED_FRACTION
from storage.objects import ObjectStore
from storage.playback import QUALITY, QUALITY_OVERALL, QUALITY_SCHEMAS
from storage.spark import physical_plan, read_watch_events

ANALYTICS_PREFIX = "analytics"
INTERACTIONS = "user_video_interactions"
ENGAGEMENT = "daily_video_engagement"
TRENDING = "trending_videos"
DATASETS = (INTERACTIONS, ENGAGEMENT, TRENDING, COMMUNITY, QUALITY, QUALITY_OVERALL)
# One object per partition: replacing a single object is atomic on S3 and in the local store,
# which no multi-object swap can be (S3 has no rename).
PARTITION_OBJECT = "part-00000.parquet"

# A view counts once per viewer, video and day, after 30 s of playback (the threshold the large
# platforms publish), or after nearly the whole video when it is shorter than that.
VIEW_MIN_WATCHED_S = 30.0
TRENDING_WINDOW_DAYS = 7
# A day's views weigh half as much two days later: trending follows the last few days without
# forgetting a video the moment its peak day ends.
TRENDING_HALF_LIFE_DAYS = 2.0

# Domain separation: the pseudonym key is derived from a secret with another purpose, so
# whoever holds this key cannot use it for that purpose (signing URLs, for instance).
_PSEUDONYM_CONTEXT = b"reelflow/analytics/user-pseudonym/v1"
PSEUDONYM_HEX_CHARS = 32

_UTC_MS = pa.timestamp("ms", tz="UTC")
_TIMESTAMP_COLUMNS = ("first_watched_at", "last_watched_at")

INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("user_pseudonym", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("events", pa.int64(), nullable=False),
        pa.field("sessions", pa.int64(), nullable=False),
        pa.field("watched_s", pa.float64(), nullable=False),
        pa.field("max_position_s", pa.float64()),
        pa.field("duration_s", pa.float64()),
        pa.field("max_progress", pa.float64()),
        pa.field("completion", pa.float64()),
        pa.field("viewed", pa.bool_()),
        pa.field("finished", pa.bool_()),
        pa.field("first_watched_at", _UTC_MS, nullable=False),
        pa.field("last_watched_at", _UTC_MS, nullable=False),
    ]
)
ENGAGEMENT_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("events", pa.int64(), nullable=False),
        pa.field("views", pa.int64(), nullable=False),
        pa.field("unique_viewers", pa.int64(), nullable=False),
        pa.field("sessions", pa.int64(), nullable=False),
        pa.field("watched_s", pa.float64(), nullable=False),
        pa.field("median_watched_s", pa.float64(), nullable=False),
        pa.field("avg_completion", pa.float64()),
        pa.field("finishes", pa.int64(), nullable=False),
        pa.field("duration_s", pa.float64()),
    ]
)
TRENDING_SCHEMA = pa.schema(
    [
        pa.field("rank", pa.int32(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("window_views", pa.int64(), nullable=False),
    ]
)
SCHEMAS = {
    INTERACTIONS: INTERACTIONS_SCHEMA,
    ENGAGEMENT: ENGAGEMENT_SCHEMA,
    TRENDING: TRENDING_SCHEMA,
    COMMUNITY: COMMUNITY_SCHEMA,
    **QUALITY_SCHEMAS,
}

_PARTITION_DAY = re.compile(r"day=(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True)
class ViewingDay:
    """One UTC day of watch events, aggregated; the frames follow the datasets' schemas."""

    day: date
    interactions: pd.DataFrame
    engagement: pd.DataFrame
    scan_plan: str

    @property
    def events(self) -> int:
        """How many watch events Spark read for the day."""
        return int(self.engagement["events"].sum())


def viewer_days(events: DataFrame) -> DataFrame:
    """One row per (video_id, user_id) of a day's watch events: what that viewer did that day.

    `watched_ms` (integer milliseconds) is kept beside `watched_s` so that totals over viewers
    are exact sums.
    """
    watched_ms = F.round(F.col("watched_delta_s") * 1000).cast("long")
    grouped = events.groupBy("video_id", "user_id").agg(
        F.count(F.lit(1)).alias("events"),
        F.countDistinct("session_id").alias("sessions"),
        F.sum(watched_ms).alias("watched_ms"),
        F.max("position_s").alias("max_position_s"),
        F.max("duration_s").alias("duration_s"),
        F.max(F.col("event_type") == "ended").alias("ended"),
        F.min("event_time").alias("first_watched_at"),
        F.max("event_time").alias("last_watched_at"),
    )
    watched_s = F.col("watched_ms") / 1000.0
    duration = F.col("duration_s")
    return grouped.select(
        "video_id",
        "user_id",
        "events",
        "sessions",
        "watched_ms",
        watched_s.alias("watched_s"),
        "max_position_s",
        "duration_s",
        F.least(F.lit(1.0), F.col("max_position_s") / duration).alias("max_progress"),
        F.least(F.lit(1.0), watched_s / duration).alias("completion"),
        (watched_s >= F.least(F.lit(VIEW_MIN_WATCHED_S), duration * FINISHED_FRACTION)).alias(
            "viewed"
        ),
        (F.col("ended") | (F.col("max_position_s") >= duration * FINISHED_FRACTION)).alias(
            "finished"
        ),
        "first_watched_at",
        "last_watched_at",
    )


def video_engagement(viewers: DataFrame) -> DataFrame:
    """One row per video of a day, from `viewer_days`: views, viewers, watch time, completion."""
    return viewers.groupBy("video_id").agg(
        F.sum("events").alias("events"),
        F.sum(F.col("viewed").cast("long")).alias("views"),
        F.count(F.lit(1)).alias("unique_viewers"),
        F.sum("sessions").alias("sessions"),
        (F.sum("watched_ms") / 1000.0).alias("watched_s"),
        # percentile (not percentile_approx) is exact: the mean of the middle two when even.
        F.percentile("watched_s", F.lit(0.5)).alias("median_watched_s"),
        # A fixed-point mean is exact, so it is the same whatever order the rows arrive in.
        F.avg(F.col("completion").cast("decimal(12,9)")).cast("double").alias("avg_completion"),
        F.sum(F.col("finished").cast("long")).alias("finishes"),
        F.max("duration_s").alias("duration_s"),
    )


def aggregate_day(
    spark: Any, keyspace: str, day: date, buckets: int, pseudonym_key: bytes
) -> ViewingDay:
    """Read one day's watch events through the connector and aggregate them.

    Only the day's `(day, bucket)` partitions are read (the plan is in `scan_plan`). User ids
    leave this function pseudonymised with `pseudonym_key`.
    """
    events = read_watch_events(spark, keyspace, day, buckets)
    viewers = viewer_days(events).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        interactions = _collect(viewers)
        engagement = _collect(video_engagement(viewers))
    finally:
        viewers.unpersist()
    interactions.insert(0, "user_pseudonym", pseudonymise(interactions["user_id"], pseudonym_key))
    return ViewingDay(
        day=day,
        interactions=conform(interactions, INTERACTIONS_SCHEMA, ["video_id", "user_pseudonym"]),
        engagement=conform(engagement, ENGAGEMENT_SCHEMA, ["video_id"]),
        scan_plan=physical_plan(events),
    )


def trending_scores(
    engagement: pd.DataFrame,
    day: date,
    *,
    window_days: int = TRENDING_WINDOW_DAYS,
    half_life_days: float = TRENDING_HALF_LIFE_DAYS,
) -> pd.DataFrame:
    """Videos ranked by time-decayed views over the `window_days` days ending on `day`.

    `engagement` holds `day`, `video_id` and `views` rows of any days (others are ignored). A
    video's score is the sum of its daily views times 0.5 ** (age in days / half-life); only
    videos with views in the window are ranked, best first, ties broken by video id.
    """
    if window_days < 1 or half_life_days <= 0:
        raise ValueError("window_days must be >= 1 and half_life_days > 0")
    frame = engagement.loc[:, ["day", "video_id", "views"]].copy()
    frame["age"] = [(day - pd.Timestamp(d).date()).days for d in frame["day"]]
    frame = frame[(frame["age"] >= 0) & (frame["age"] < window_days) & (frame["views"] > 0)]
    # Sorted before summing, so the float sums are the same on every run.
    frame = frame.sort_values(["video_id", "age"])
    frame["weighted"] = frame["views"] * 0.5 ** (frame["age"] / half_life_days)
    scores = (
        frame.groupby("video_id", sort=True)
        .agg(score=("weighted", "sum"), window_views=("views", "sum"))
        .reset_index()
        .sort_values(["score", "video_id"], ascending=[False, True], kind="stable")
    )
    scores.insert(0, "rank", range(1, len(scores) + 1))
    return conform(scores, TRENDING_SCHEMA, [])


def window(day: date, days: int) -> list[date]:
    """The `days` consecutive days ending on `day`, oldest first."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    return [day - timedelta(days=n) for n in range(days - 1, -1, -1)]


def pseudonym_key(secret: str | bytes) -> bytes:
    """The key of user pseudonyms, derived from a deployment secret."""
    raw = secret.encode() if isinstance(secret, str) else secret
    if not raw:
        raise ValueError("the pseudonym secret must not be empty")
    return hmac.digest(raw, _PSEUDONYM_CONTEXT, hashlib.sha256)


def pseudonym(user_id: UUID | str, key: bytes) -> str:
    """A user's pseudonym: HMAC-SHA256 of the id's 16 bytes, first 128 bits in hex.

    Stable for a key, so a user's rows join across days and datasets; without the key it cannot
    be recomputed from a user id, nor reversed.
    """
    uid = user_id if isinstance(user_id, UUID) else UUID(user_id)
    return hmac.digest(key, uid.bytes, hashlib.sha256).hex()[:PSEUDONYM_HEX_CHARS]


def pseudonymise(user_ids: Iterable[UUID | str], key: bytes) -> list[str]:
    """`pseudonym` of each id, in order."""
    return [pseudonym(user_id, key) for user_id in user_ids]


def conform(frame: pd.DataFrame, schema: pa.Schema, sort_by: list[str]) -> pd.DataFrame:
    """The frame with exactly the schema's columns, in its order and types, sorted."""
    out = frame.loc[:, schema.names].copy()
    for name in _TIMESTAMP_COLUMNS:
        if name in out and getattr(out[name].dt, "tz", None) is None:
            # Spark hands timestamps over as naive values in the session time zone (UTC).
            out[name] = out[name].dt.tz_localize("UTC")
    if sort_by:
        out = out.sort_values(sort_by, kind="stable")
    return table_to_frame(pa.Table.from_pandas(out, schema=schema, preserve_index=False))


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas frame of a dataset table (nullable integers and booleans stay exact)."""
    frame: pd.DataFrame = table.to_pandas()
    return frame


def partition_folder(dataset: str, day: date) -> str:
    """The object-store folder of one day of a dataset."""
    if dataset not in SCHEMAS:
        raise ValueError(f"unknown dataset {dataset!r}; one of {', '.join(DATASETS)}")
    return f"{ANALYTICS_PREFIX}/{dataset}/day={day.isoformat()}"


def write_partition(store: ObjectStore, dataset: str, day: date, frame: pd.DataFrame) -> str:
    """Replace one day of a dataset with `frame`; the key of the object written.

    The partition is one Parquet object, written to a local file first and then stored with a
    single `put_file`, which replaces the previous object atomically (S3 PUT or multipart
    completion; os.replace in the local store): a reader sees the old day or the new one, never
    a mix. Any other object left in the folder (another layout, a crashed writer) is deleted
    afterwards. An empty frame still writes a file, so a day whose events are all gone reads
    back empty instead of keeping its old rows.
    """
    schema = SCHEMAS[dataset]
    folder = partition_folder(dataset, day)
    key = f"{folder}/{PARTITION_OBJECT}"
    table = pa.Table.from_pandas(frame.loc[:, schema.names], schema=schema, preserve_index=False)
    with tempfile.TemporaryDirectory(prefix="reelflow-parquet-") as tmp:
        path = Path(tmp) / PARTITION_OBJECT
        pq.write_table(table, path, compression="zstd")
        store.put_file(key, path)
    for stale in store.list(folder):
        if stale != key:
            store.delete(stale)
    return key


def read_partition(
    store: ObjectStore, dataset: str, day: date, columns: Sequence[str] | None = None
) -> pd.DataFrame | None:
    """One day of a dataset (only ``columns`` when given), or None when that day was never
    written."""
    keys = [key for key in store.list(partition_folder(dataset, day)) if key.endswith(".parquet")]
    if not keys:
        return None
    with tempfile.TemporaryDirectory(prefix="reelflow-parquet-") as tmp:
        tables = []
        for n, key in enumerate(keys):
            path = Path(tmp) / f"{n}.parquet"
            store.download(key, path)
            tables.append(pq.read_table(path, schema=SCHEMAS[dataset], columns=columns))
    return table_to_frame(pa.concat_tables(tables))


def partition_days(store: ObjectStore, dataset: str) -> list[date]:
    """The days of a dataset present in the store, oldest first."""
    days = {
        date.fromisoformat(match.group(1))
        for key in store.list(f"{ANALYTICS_PREFIX}/{dataset}")
        if (match := _PARTITION_DAY.search(key)) is not None
    }
    return sorted(days)


def _collect(frame: DataFrame) -> pd.DataFrame:
    # Arrow makes the transfer columnar instead of one pickled row at a time; it is a runtime
    # SQL setting, so setting it here is safe whatever session the caller built.
    frame.sparkSession.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    collected: pd.DataFrame = frame.toPandas()
    return collected
