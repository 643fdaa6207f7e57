"""Viewing-history stage: each UTC day of watch events aggregated in Spark, for analysts and API.

Lineage: `daily_watch_events` (Cassandra, appended by the API) -> `user_video_interactions` ->
`daily_video_engagement` -> `trending_videos`. The first two are computed together from one
read of the day; every asset writes its Parquet partition under `analytics/` in the object
store, replacing the day exactly, so re-running or backfilling any range of days is safe.
"""

import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pandas as pd
import psycopg
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BetaWarning,
    DailyPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
    multi_asset,
)
from dagster_pyspark import PySparkResource

from assets.metadata import markdown_table
from assets.resources import CatalogResource, HistoryResource, ObjectStoreResource
from storage.engagement import (
    ENGAGEMENT,
    INTERACTIONS,
    TRENDING,
    TRENDING_HALF_LIFE_DAYS,
    TRENDING_WINDOW_DAYS,
    aggregate_day,
    pseudonym_key,
    read_partition,
    trending_scores,
    window,
    write_partition,
)
from storage.trending import STORED_PER_DAY, replace_trending

GROUP = "engagement"

# end_offset=1 makes today a partition too, so the day in progress can be looked at from the UI;
# the schedule only ever requests complete days.
daily_partitions = DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC", end_offset=1)

WATCH_EVENTS = AssetKey("daily_watch_events")
INTERACTIONS_KEY = AssetKey(INTERACTIONS)
ENGAGEMENT_KEY = AssetKey(ENGAGEMENT)

# Written by the API, not by Dagster: declared so lineage starts at the raw events.
daily_watch_events = AssetsDefinition(
    specs=[
        AssetSpec(
            WATCH_EVENTS,
            description="Watch events of a UTC day in Cassandra (watch_events_by_day), "
            "appended by the API.",
            group_name=GROUP,
            partitions_def=daily_partitions,
            kinds={"cassandra"},
        )
    ]
)


@multi_asset(
    specs=[
        AssetSpec(
            INTERACTIONS_KEY,
            description="Per pseudonymised viewer and video, what they watched that day.",
            deps=[WATCH_EVENTS],
            group_name=GROUP,
            kinds={"spark", "parquet"},
        ),
        AssetSpec(
            ENGAGEMENT_KEY,
            description="Per video and day: views, unique viewers, watch time, completion.",
            deps=[INTERACTIONS_KEY],
            group_name=GROUP,
            kinds={"spark", "parquet"},
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "events_match_cassandra",
            asset=INTERACTIONS_KEY,
            description="Spark read as many events for the day as the driver counts.",
        ),
        AssetCheckSpec(
            "no_negative_durations",
            asset=INTERACTIONS_KEY,
            blocking=True,
            description="Watched seconds, positions and durations are not negative.",
        ),
        AssetCheckSpec(
            "progress_within_bounds",
            asset=INTERACTIONS_KEY,
            blocking=True,
            description="Max progress and completion lie in [0, 1].",
        ),
        AssetCheckSpec(
            "completion_within_bounds",
            asset=ENGAGEMENT_KEY,
            blocking=True,
            description="Average completion lies in [0, 1].",
        ),
        AssetCheckSpec(
            "no_negative_durations",
            asset=ENGAGEMENT_KEY,
            blocking=True,
            description="Watch seconds and durations are not negative.",
        ),
        AssetCheckSpec(
            "views_at_most_events",
            asset=ENGAGEMENT_KEY,
            blocking=True,
            description="views <= unique viewers <= events for every video.",
        ),
    ],
    partitions_def=daily_partitions,
    pool="spark",
)
def daily_viewing(
    context: AssetExecutionContext,
    pyspark: PySparkResource,
    history: HistoryResource,
    object_store: ObjectStoreResource,
) -> Iterator[MaterializeResult]:
    """Aggregate one day of watch events in Spark and publish both Parquet partitions."""
    day = date.fromisoformat(context.partition_key)
    age_days = (datetime.now(UTC).date() - day).days
    if age_days >= history.watch_event_ttl_days:
        # Its raw events have expired (or are expiring): a re-run would replace good datasets
        # with empty or partial ones.
        raise Failure(
            f"the watch events of {day} are past their {history.watch_event_ttl_days}-day TTL; "
            "its datasets are kept as they are"
        )
    spark = pyspark.spark_session
    key = pseudonym_key(history.pseudonym_key)
    viewing = aggregate_day(spark, history.keyspace, day, history.event_buckets, key)
    # Counted after Spark's read, so only events arriving during the run can make them differ.
    driver_events = history.history.count_events_for_day(day)
    store = object_store.store()
    interactions, engagement = viewing.interactions, viewing.engagement

    yield MaterializeResult(
        asset_key=INTERACTIONS_KEY,
        metadata={
            "object_key": write_partition(store, INTERACTIONS, day, interactions),
            "dagster/row_count": len(interactions),
            "events": viewing.events,
            "viewers": int(interactions["user_pseudonym"].nunique()),
            "spark_master": spark.sparkContext.master,
            "physical_plan": MetadataValue.md(f"```\n{viewing.scan_plan}\n```"),
        },
        check_results=[
            AssetCheckResult(
                asset_key=INTERACTIONS_KEY,
                check_name="events_match_cassandra",
                passed=viewing.events == driver_events,
                severity=AssetCheckSeverity.ERROR,
                metadata={"spark_events": viewing.events, "driver_events": driver_events},
                description=None
                if viewing.events == driver_events
                else "Events were written or erased during the run: run the day again.",
            ),
            _failing_rows(
                INTERACTIONS_KEY,
                "no_negative_durations",
                (interactions[["watched_s", "max_position_s", "duration_s"]] < 0).any(axis=1),
            ),
            _failing_rows(
                INTERACTIONS_KEY,
                "progress_within_bounds",
                ~_within_unit(interactions["max_progress"])
                | ~_within_unit(interactions["completion"]),
            ),
        ],
    )
    yield MaterializeResult(
        asset_key=ENGAGEMENT_KEY,
        metadata={
            "object_key": write_partition(store, ENGAGEMENT, day, engagement),
            "dagster/row_count": len(engagement),
            "events": int(engagement["events"].sum()),
            "views": int(engagement["views"].sum()),
            "watched_hours": round(float(engagement["watched_s"].sum()) / 3600, 3),
        },
        check_results=[
            _failing_rows(
                ENGAGEMENT_KEY,
                "completion_within_bounds",
                ~_within_unit(engagement["avg_completion"]),
            ),
            _failing_rows(
                ENGAGEMENT_KEY,
                "no_negative_durations",
                (engagement[["watched_s", "median_watched_s", "duration_s"]] < 0).any(axis=1),
            ),
            _failing_rows(
                ENGAGEMENT_KEY,
                "views_at_most_events",
                (engagement["views"] > engagement["unique_viewers"])
                | (engagement["unique_viewers"] > engagement["events"]),
            ),
        ],
    )


with warnings.catch_warnings():
    # The flag is beta but needed: the first days' windows reach before the first partition.
    warnings.simplefilter("ignore", BetaWarning)
    # Days before the first partition, or never materialized, count as no views.
    _engagement_window = TimeWindowPartitionMapping(
        start_offset=-(TRENDING_WINDOW_DAYS - 1), allow_nonexistent_upstream_partitions=True
    )


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    deps=[AssetDep(ENGAGEMENT_KEY, partition_mapping=_engagement_window)],
    kinds={"pandas", "postgres", "parquet"},
)
def trending_videos(
    context: AssetExecutionContext,
    object_store: ObjectStoreResource,
    catalog: CatalogResource,
) -> MaterializeResult:
    """Videos ranked by time-decayed views over the last seven days, in Postgres and Parquet."""
    day = date.fromisoformat(context.partition_key)
    store = object_store.store()
    frames, missing = [], []
    for engagement_day in window(day, TRENDING_WINDOW_DAYS):
        frame = read_partition(store, ENGAGEMENT, engagement_day)
        if frame is None:
            missing.append(engagement_day.isoformat())
        else:
            frames.append(frame.assign(day=engagement_day))
    engagement = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"day": [], "video_id": [], "views": []})
    )
    ranking = trending_scores(engagement, day)
    object_key = write_partition(store, TRENDING, day, ranking)
    top = ranking.head(STORED_PER_DAY)
    with psycopg.connect(catalog.dsn) as conn:
        stored = replace_trending(
            conn, day, zip(top["video_id"], top["score"], top["rank"], strict=True)
        )
    return MaterializeResult(
        metadata={
            "object_key": object_key,
            "dagster/row_count": len(ranking),
            "stored_in_postgres": stored,
            "window_days": TRENDING_WINDOW_DAYS,
            "half_life_days": TRENDING_HALF_LIFE_DAYS,
            "missing_engagement_days": MetadataValue.json(missing),
            "top": MetadataValue.md(markdown_table(ranking.head(10))),
        }
    )


def _within_unit(values: pd.Series) -> pd.Series:
    # A missing value is out of bounds too: it means a duration of zero slipped through.
    return values.notna() & (values >= 0) & (values <= 1)


def _failing_rows(asset_key: AssetKey, check_name: str, failing: pd.Series) -> AssetCheckResult:
    count = int(failing.sum())
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=count == 0,
        metadata={"failing_rows": count},
    )
