"""Spark session settings: the connector's jars by name, the Cassandra hosts, loopback or not."""

from __future__ import annotations

import sys
from pathlib import Path

from storage.spark import spark_config

JARS = [
    Path("/cache/jars/spark-connector/spark-cassandra-connector_2.12-3.5.1.jar"),
    Path("/cache/jars/spark-connector/java-driver-core-4.13.0.jar"),
    Path("/cache/jars/spark-connector/scala-reflect-2.12.11.jar"),
]
LOOPBACK_ONLY = ("spark.driver.host", "spark.driver.bindAddress", "spark.ui.enabled")


def test_a_local_session_stays_on_the_loopback_interface() -> None:
    config = spark_config("local[*]", JARS, ["127.0.0.1"], 19042, loopback=True)
    assert config["spark.master"] == "local[*]"
    assert config["spark.driver.host"] == config["spark.driver.bindAddress"] == "127.0.0.1"
    assert config["spark.ui.enabled"] == "false"


def test_a_cluster_session_lets_spark_pick_the_driver_address() -> None:
    master = "spark://spark-master.internal:7077"
    config = spark_config(master, JARS, ["10.0.0.5"], 9042, loopback=False)
    assert config["spark.master"] == master
    # Executors on other hosts connect back to the driver: no loopback address for them.
    assert not set(LOOPBACK_ONLY) & set(config)


def test_jars_are_listed_one_by_one_in_a_stable_order() -> None:
    config = spark_config("local[*]", JARS, ["127.0.0.1"], 19042, loopback=True)
    listed = config["spark.jars"].split(",")
    assert listed == sorted(str(jar) for jar in JARS)
    assert all("*" not in jar for jar in listed)
    again = spark_config("local[*]", list(reversed(JARS)), ["127.0.0.1"], 19042, loopback=True)
    assert again["spark.jars"] == config["spark.jars"]
    assert spark_config("local[*]", [], ["127.0.0.1"], 19042, loopback=True)["spark.jars"] == ""


def test_every_cassandra_contact_point_and_the_port_are_passed_on() -> None:
    hosts = ["10.0.0.1", "10.0.0.2", "cassandra-3.internal"]
    config = spark_config("local[2]", JARS, hosts, 9142, loopback=False)
    assert config["spark.cassandra.connection.host"] == "10.0.0.1,10.0.0.2,cassandra-3.internal"
    assert config["spark.cassandra.connection.port"] == "9142"


def test_the_connector_reads_and_writes_in_the_local_dc_at_the_configured_levels() -> None:
    config = spark_config(
        "local[2]",
        JARS,
        ["10.0.0.1"],
        9042,
        local_dc="eu-west",
        read_consistency="LOCAL_ONE",
        write_consistency="EACH_QUORUM",
        loopback=False,
    )
    assert config["spark.cassandra.connection.localDC"] == "eu-west"
    assert config["spark.cassandra.input.consistency.level"] == "LOCAL_ONE"
    assert config["spark.cassandra.output.consistency.level"] == "EACH_QUORUM"


def test_sessions_compute_in_utc_with_this_python() -> None:
    config = spark_config("local[*]", JARS, ["127.0.0.1"], 19042, loopback=True)
    # Days of watch events are UTC days whatever the host's time zone.
    assert config["spark.sql.session.timeZone"] == "UTC"
    assert config["spark.pyspark.python"] == sys.executable
    assert all(isinstance(value, str) for value in config.values())
