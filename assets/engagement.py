"""Viewing-history stage: watch events read from Cassandra through Spark, one day at a time."""

from datetime import date

import pandas as pd
from dagster import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    MetadataValue,
    asset,
)
from dagster_pyspark import PySparkResource

from pipelines.resources import HistoryResource
from storage.spark import physical_plan, read_watch_events

GROUP = "engagement"

daily_partitions = DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC", end_offset=1)


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"spark", "cassandra"},
    pool="spark",
)
def daily_watch_events(
    context: AssetExecutionContext, pyspark: PySparkResource, history: HistoryResource
) -> pd.DataFrame:
    """The day's watch events, read from Cassandra through Spark and the connector."""
    day = date.fromisoformat(context.partition_key)
    frame = read_watch_events(pyspark.spark_session, history.keyspace, day, history.event_buckets)
    events = frame.toPandas()
    context.add_output_metadata(
        {
            "events": len(events),
            "users": int(events["user_id"].nunique()) if len(events) else 0,
            "physical_plan": MetadataValue.md(f"```\n{physical_plan(frame)}\n```"),
        }
    )
    return events
