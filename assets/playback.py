"""Playback quality stage: each UTC day of player QoE events aggregated in Spark, for analysts.

Lineage: `daily_playback_events` (Cassandra, appended by the API) -> `daily_playback_quality`
(per video) and `daily_playback_quality_overall` (the whole day, from the same sessions). Both
are computed from one read of the day and written as Parquet partitions under `analytics/`,
replacing the day exactly, so re-running or backfilling any range of days is safe.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from dagster_pyspark import PySparkResource

from assets.engagement import daily_partitions
from assets.resources import HistoryResource, ObjectStoreResource
from storage.engagement import write_partition
from storage.playback import QUALITY, QUALITY_OVERALL, playback_log
from storage.playback_quality import aggregate_quality_day

GROUP = "playback"

PLAYBACK_EVENTS = AssetKey("daily_playback_events")
QUALITY_KEY = AssetKey(QUALITY)
OVERALL_KEY = AssetKey(QUALITY_OVERALL)
COUNTS = ["plays", "video_start_failures", "exits_before_start", "rendition_switches"]
MEASURES = ["ttff_median_ms", "ttff_p95_ms", "avg_bitrate_kbps"]

# Written by the API, not by Dagster: declared so lineage starts at the raw events.
daily_playback_events = AssetsDefinition(
    specs=[
        AssetSpec(
            PLAYBACK_EVENTS,
            description="Player QoE events of a UTC day in Cassandra (playback_events_by_day), "
            "appended by the API.",
            group_name=GROUP,
            partitions_def=daily_partitions,
            kinds={"cassandra"},
        )
    ]
)


def _checks(asset: AssetKey) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            "no_negative_values",
            asset=asset,
            blocking=True,
            description="Counts, times and bitrates are not negative.",
        ),
        AssetCheckSpec(
            "ratios_within_bounds",
            asset=asset,
            blocking=True,
            description="The rebuffer ratio lies in [0, 1] (or is empty: nothing played).",
        ),
        AssetCheckSpec(
            "plays_cover_failures_and_exits",
            asset=asset,
            blocking=True,
            description="plays >= video_start_failures + exits_before_start.",
        ),
    ]


@multi_asset(
    specs=[
        AssetSpec(
            QUALITY_KEY,
            description="Per video and day: plays, start failures, exits, TTFF, rebuffering, "
            "bitrate and switches.",
            deps=[PLAYBACK_EVENTS],
            group_name=GROUP,
            kinds={"spark", "parquet"},
        ),
        AssetSpec(
            OVERALL_KEY,
            description="Per day over every video: the same figures, from the day's events.",
            deps=[PLAYBACK_EVENTS],
            group_name=GROUP,
            kinds={"spark", "parquet"},
        ),
    ],
    check_specs=[
        *_checks(QUALITY_KEY),
        AssetCheckSpec(
            "events_match_cassandra",
            asset=QUALITY_KEY,
            description="Spark read as many events for the day as the driver counts.",
        ),
        AssetCheckSpec(
            "unique_video_id",
            asset=QUALITY_KEY,
            blocking=True,
            description="One row per video.",
        ),
        *_checks(OVERALL_KEY),
        AssetCheckSpec(
            "one_row",
            asset=OVERALL_KEY,
            blocking=True,
            description="Exactly one row for the day.",
        ),
        AssetCheckSpec(
            "counts_match_videos",
            asset=OVERALL_KEY,
            blocking=True,
            description="Plays, failures, exits and switches equal the sums over the videos.",
        ),
    ],
    partitions_def=daily_partitions,
    pool="spark",
)
def daily_playback_quality(
    context: AssetExecutionContext,
    pyspark: PySparkResource,
    history: HistoryResource,
    object_store: ObjectStoreResource,
) -> Iterator[MaterializeResult]:
    """Aggregate one day of player QoE events in Spark and publish both Parquet partitions."""
    day = date.fromisoformat(context.partition_key)
    if (datetime.now(UTC).date() - day).days >= history.watch_event_ttl_days:
        # Its raw events have expired: a re-run would replace good datasets with empty ones.
        raise Failure(
            f"the playback events of {day} are past their {history.watch_event_ttl_days}-day "
            "TTL; its datasets are kept as they are"
        )
    spark = pyspark.spark_session
    quality = aggregate_quality_day(spark, history.keyspace, day, history.event_buckets)
    # Counted after Spark's read, so only events arriving during the run can make them differ.
    driver_events = playback_log(history.history).count_events_for_day(day)
    store = object_store.store()
    per_video, overall = quality.per_video, quality.overall
    summed = per_video[COUNTS].sum()

    yield MaterializeResult(
        asset_key=QUALITY_KEY,
        metadata={
            "object_key": write_partition(store, QUALITY, day, per_video),
            "dagster/row_count": len(per_video),
            "events": quality.events,
            "sessions": quality.sessions,
            "spark_master": spark.sparkContext.master,
            "physical_plan": MetadataValue.md(f"```\n{quality.scan_plan}\n```"),
        },
        check_results=[
            *_quality_checks(QUALITY_KEY, per_video),
            AssetCheckResult(
                asset_key=QUALITY_KEY,
                check_name="events_match_cassandra",
                passed=quality.events == driver_events,
                metadata={"spark_events": quality.events, "driver_events": driver_events},
            ),
            _failing_rows(QUALITY_KEY, "unique_video_id", per_video["video_id"].duplicated()),
        ],
    )
    totals = overall.iloc[0] if len(overall) else None
    yield MaterializeResult(
        asset_key=OVERALL_KEY,
        metadata={
            "object_key": write_partition(store, QUALITY_OVERALL, day, overall),
            "dagster/row_count": len(overall),
            **{name: 0 if totals is None else int(totals[name]) for name in COUNTS},
            **{
                name: None if totals is None else _optional(totals[name])
                for name in [*MEASURES, "rebuffer_ratio"]
            },
        },
        check_results=[
            *_quality_checks(OVERALL_KEY, overall),
            AssetCheckResult(
                asset_key=OVERALL_KEY,
                check_name="one_row",
                passed=len(overall) == 1,
                metadata={"rows": len(overall)},
            ),
            AssetCheckResult(
                asset_key=OVERALL_KEY,
                check_name="counts_match_videos",
                passed=totals is not None
                and all(int(totals[name]) == int(summed[name]) for name in COUNTS),
                metadata={name: int(summed[name]) for name in COUNTS},
            ),
        ],
    )


def _quality_checks(asset_key: AssetKey, frame: pd.DataFrame) -> list[AssetCheckResult]:
    ratio = frame["rebuffer_ratio"]
    return [
        _failing_rows(
            asset_key,
            "no_negative_values",
            (frame[[*COUNTS, *MEASURES, "rebuffer_ratio"]] < 0).any(axis=1),
        ),
        _failing_rows(
            asset_key, "ratios_within_bounds", ratio.notna() & ((ratio < 0) | (ratio > 1))
        ),
        _failing_rows(
            asset_key,
            "plays_cover_failures_and_exits",
            frame["plays"] < frame["video_start_failures"] + frame["exits_before_start"],
        ),
    ]


def _failing_rows(asset_key: AssetKey, check_name: str, failing: pd.Series) -> AssetCheckResult:
    count = int(failing.sum())
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=count == 0,
        metadata={"failing_rows": count},
    )


def _optional(value: object) -> float | None:
    return None if pd.isna(value) else float(value)  # type: ignore[arg-type]
