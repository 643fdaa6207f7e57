"""One day's aggregation on a Spark standalone cluster: master and one worker on 127.0.0.1,
the driver in a process of its own (`materialize_daily_viewing`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from portpicker import pick_unused_port

from devstack.processes import Server
from reelflow.settings import Settings
from storage.engagement import ENGAGEMENT, read_partition
from storage.history import History
from storage.objects import LocalObjectStore
from tests.fixtures.daily_viewing import materialize_daily_viewing

# A recent day, whatever the date: the stage refuses days whose events are past their TTL.
DAY = datetime.now(UTC).date() - timedelta(days=1)
START_TIMEOUT_S = 90


@dataclass
class Cluster:
    master_url: str
    work_dir: Path


def log_contains(log: Path, text: str) -> Callable[[], bool]:
    """Readiness by what a server logs once it is up."""
    return lambda: text in log.read_text(errors="replace")


def spark_class() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent / "bin" / "spark-class"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    env = os.environ | {"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    env.pop("SPARK_HOME", None)
    port = pick_unused_port()
    master_url = f"spark://127.0.0.1:{port}"
    work_dir = tmp_path / "worker"
    commands = {
        "master": [
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(pick_unused_port()),
        ],
        "worker": [
            "org.apache.spark.deploy.worker.Worker", master_url,
            "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
            "--webui-port", str(pick_unused_port()), "--work-dir", str(work_dir),
        ],
    }  # fmt: skip
    ready = {"master": "I have been elected leader", "worker": "Successfully registered"}
    with contextlib.ExitStack() as servers:
        for name, arguments in commands.items():
            log = tmp_path / f"{name}.log"
            server = servers.enter_context(
                Server.start(name, [str(spark_class()), *arguments], log=log, cwd=tmp_path, env=env)
            )
            server.wait_ready(log_contains(log, ready[name]), START_TIMEOUT_S)
        yield Cluster(master_url, work_dir)


def test_one_day_aggregates_on_a_standalone_cluster(
    cluster: Cluster, history: History, history_keyspace: str, settings: Settings, tmp_path: Path
) -> None:
    video = uuid4()
    # Two viewers of a 60 s video: 30 s (a view) and 10 s.
    for user, seconds in ((uuid4(), 30.0), (uuid4(), 10.0)):
        session = uuid4()
        for event_type, position, delta, second in (
            ("start", 0.0, 0.0, 0),
            ("pause", seconds, seconds, int(seconds)),
        ):
            history.record_watch(
                user,
                video,
                position,
                60.0,
                watched_delta_s=delta,
                session_id=session,
                event_type=event_type,
                at=datetime.combine(DAY, time(12, 0, second), UTC),
            )
    objects = tmp_path / "objects"
    env = os.environ | {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "REELFLOW_SPARK_MASTER": cluster.master_url,
        "REELFLOW_CASSANDRA_KEYSPACE": history_keyspace,
        "REELFLOW_OBJECT_STORE": "local",
        "REELFLOW_OBJECT_STORE_DIR": str(objects),
    }
    env.pop("SPARK_HOME", None)

    outcome = materialize_daily_viewing(env, DAY)
    assert outcome == {
        "success": True,
        "master": cluster.master_url,
        "events": 4,
        "checks": dict.fromkeys(
            [
                "events_match_cassandra",
                "no_negative_durations",
                "progress_within_bounds",
                "completion_within_bounds",
                "views_at_most_events",
            ],
            True,
        ),
    }
    # The tasks ran in the worker's executor, not in the driver.
    executor_logs = list(cluster.work_dir.glob("app-*/*/stderr"))
    assert executor_logs and "Running task" in executor_logs[0].read_text()
    store = LocalObjectStore(objects, settings.cdn_base_url, b"unused")
    engagement = read_partition(store, ENGAGEMENT, DAY)
    assert engagement is not None
    assert engagement.to_dict("records") == [
        {
            "video_id": str(video),
            "events": 4,
            "views": 1,
            "unique_viewers": 2,
            "sessions": 2,
            "watched_s": 40.0,
            "median_watched_s": 20.0,
            "avg_completion": pytest.approx(1 / 3),
            "finishes": 0,
            "duration_s": 60.0,
        }
    ]
