"""Spark over Cassandra: session settings and the day-at-a-time read of watch events."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

CASSANDRA_FORMAT = "org.apache.spark.sql.cassandra"


def spark_config(
    master: str,
    connector_jars: list[Path],
    contact_points: list[str],
    port: int,
    *,
    local_dc: str | None = None,
    read_consistency: str = "LOCAL_QUORUM",
    write_consistency: str = "LOCAL_QUORUM",
    loopback: bool,
) -> dict[str, str]:
    """Session settings: the connector's cached jars (no download at run time) and Cassandra,
    read and written in ``local_dc`` at the same consistency levels as the API.

    `loopback` keeps the driver and its UI on 127.0.0.1 (a machine of its own, no cluster).
    """
    config = {
        "spark.master": master,
        "spark.app.name": "reelflow",
        # Listed one by one: executors on a cluster fetch each jar by name (no globs there).
        "spark.jars": ",".join(sorted(str(jar) for jar in connector_jars)),
        "spark.sql.extensions": "com.datastax.spark.connector.CassandraSparkExtensions",
        "spark.cassandra.connection.host": ",".join(contact_points),
        "spark.cassandra.connection.port": str(port),
        "spark.cassandra.input.consistency.level": read_consistency,
        "spark.cassandra.output.consistency.level": write_consistency,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8",
        "spark.ui.showConsoleProgress": "false",
        "spark.pyspark.python": sys.executable,
    }
    if local_dc is not None:
        config["spark.cassandra.connection.localDC"] = local_dc
    if loopback:
        config |= {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.enabled": "false",
        }
    return config


def read_watch_events(spark: Any, keyspace: str, day: date, buckets: int) -> Any:
    """The watch events of one day as a DataFrame, read from that day's partitions only.

    Naming every `(day, bucket)` partition key lets the connector push the restriction down to
    Cassandra instead of scanning the table.
    """
    frame = spark.read.format(CASSANDRA_FORMAT).options(
        keyspace=keyspace, table="watch_events_by_day"
    )
    events = frame.load()
    return events.where((events.day == day) & events.bucket.isin(list(range(buckets))))


def physical_plan(frame: Any) -> str:
    """The executed physical plan of a DataFrame, as Spark prints it."""
    return str(frame._jdf.queryExecution().executedPlan().toString())
