"""The demo's steps on a test database, keyspace, object store and Dagster instance.

Each step runs twice: the second run must reuse everything the first one made, as a second
`make demo` does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, AssetMaterialization, RunsFilter, instance_for_test

from api.security import hash_password
from cli.demo import (
    ART_LOVERS,
    MEDIA_JOB,
    PARTITION_TAG,
    DemoClip,
    Runs,
    WatchableVideo,
    child_environment,
    days_to_aggregate,
    graphql,
    group_members,
    materialize_videos,
    seed_library,
    seed_users,
    seed_watch_events,
    serve,
    stop,
    videos_to_process,
    watchable_videos,
)
from reelflow.settings import PROJECT_ROOT, Settings
from storage.catalog import Catalog, EncodingStatus, Role, UserSubscriptionStatus, Visibility
from storage.history import History
from storage.objects import LocalObjectStore
from storage.seed import SeedVideo, days_ending
from tests.fixtures.processes import free_port, free_ports

# Tiny clips: the media lifecycle of one takes seconds.
TINY_PUBLIC = DemoClip(
    "Tiny Test Card", "A public test clip.", ("test",), width=176, height=144, duration_s=2.0
)
TINY_PREMIUM = DemoClip(
    "Tiny Colour Bars",
    "A premium test clip.",
    ("test",),
    visibility=Visibility.PREMIUM,
    pattern="smptehdbars",
    width=176,
    height=144,
    duration_s=2.0,
    audience=ART_LOVERS,
)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", "http://127.0.0.1:8000/cdn", b"test-secret")


def test_seeding_twice_creates_nothing_new(
    catalog: Catalog, history: History, store: LocalObjectStore, tmp_path: Path
) -> None:
    users = seed_users(catalog)
    assert len([c for c in users.changes if c.startswith("created")]) == 4
    assert users.subscriber.subscription_status == UserSubscriptionStatus.ACTIVE
    assert users.viewer.subscription_status == UserSubscriptionStatus.NONE
    assert (users.creator.role, users.admin.role) == (Role.CREATOR, Role.ADMIN)

    library = seed_library(catalog, store, users.creator, [TINY_PUBLIC, TINY_PREMIUM], tmp_path)
    assert all(video.created and video.uploaded for video in library)
    pending = catalog.list_completed_uploads_pending_ingest()
    assert {upload.video_id for upload in pending} == {video.video_id for video in library}
    assert all(store.exists(upload.object_key) for upload in pending)

    videos = [
        WatchableVideo(SeedVideo(video.video_id, 2.0), video.visibility, video.audience)
        for video in library
    ]
    days = days_ending(datetime.now(UTC).date() - timedelta(days=1), 2)
    written = seed_watch_events(history, users, videos, days, viewers=6)
    assert sorted(written) == days
    counts = {day: history.count_events_for_day(day) for day in days}
    assert counts == written
    for day in days:
        watched = {event.user_id for event in history.events_for_day(day)}
        assert users.subscriber.id in watched and len(watched) > 2
    premium = {video.video_id for video in library if video.visibility == Visibility.PREMIUM}
    assert not premium & {entry.video_id for entry in history.history(users.viewer.id)}

    again = seed_users(catalog)
    assert again.changes == ()
    assert [u.id for u in (again.subscriber, again.viewer, again.creator, again.admin)] == [
        u.id for u in (users.subscriber, users.viewer, users.creator, users.admin)
    ]
    assert len(catalog.subscriptions_of_user(users.subscriber.id)) == 1
    library_again = seed_library(
        catalog, store, users.creator, [TINY_PUBLIC, TINY_PREMIUM], tmp_path
    )
    assert [v.video_id for v in library_again] == [v.video_id for v in library]
    assert not any(video.created or video.uploaded for video in library_again)
    assert catalog.list_completed_uploads_pending_ingest() == pending
    assert seed_watch_events(history, users, videos, days, viewers=6) == {}
    assert {day: history.count_events_for_day(day) for day in days} == counts


def test_seed_users_repairs_a_changed_password_and_role(catalog: Catalog) -> None:
    users = seed_users(catalog)
    catalog.update_user(users.admin.id, role=Role.VIEWER, password_hash=hash_password("changed!!!"))
    again = seed_users(catalog)
    assert again.changes == ("reset admin@example.com",)
    assert again.admin.role == Role.ADMIN


def test_media_lifecycle_runs_once_per_video(
    monkeypatch: pytest.MonkeyPatch,
    dev_stack: Settings,
    catalog: Catalog,
    catalog_dsn: str,
    store: LocalObjectStore,
    tmp_path: Path,
) -> None:
    # The demo's jobs read their resources from the environment, as the code location does.
    for name, value in {
        "REELFLOW_POSTGRES_DSN": catalog_dsn,
        "REELFLOW_OBJECT_STORE": "local",
        "REELFLOW_OBJECT_STORE_DIR": str(store.root),
        "REELFLOW_WORK_DIR": str(tmp_path / "work"),
        "REELFLOW_X264_PRESET": "ultrafast",
    }.items():
        monkeypatch.setenv(name, value)
    users = seed_users(catalog)
    clips = [TINY_PUBLIC, TINY_PREMIUM]
    library = seed_library(catalog, store, users.creator, clips, tmp_path / "clips")
    with instance_for_test() as instance:
        assert videos_to_process(catalog, instance, library) == library
        lines: list[str] = []
        runs = Runs(instance, say=lines.append)
        # Two partitions: each run's steps and checks must see their own video only.
        outcomes = materialize_videos(runs, library, library)

        assert all(outcome.success for outcome in outcomes), "\n".join(lines)
        assert sorted(instance.get_dynamic_partitions("videos")) == sorted(
            str(video.video_id) for video in library
        )
        for video, outcome in zip(library, outcomes, strict=True):
            assert catalog.get_video(video.video_id).encoding_status == EncodingStatus.READY
            run = instance.get_run_by_id(outcome.run_id)
            assert run is not None
            assert (run.job_name, run.tags[PARTITION_TAG]) == (MEDIA_JOB, str(video.video_id))
        assert lines.count("    + published_video materialized") == 2
        assert any(line.startswith("    v check ") for line in lines)
        assert not any(" FAILED" in line for line in lines)
        watchable = watchable_videos(catalog, library)
        assert [(w.video.video_id, w.visibility, w.audience) for w in watchable] == [
            (v.video_id, v.visibility, v.audience) for v in library
        ]

        assert videos_to_process(catalog, instance, library) == []
        assert materialize_videos(runs, library, []) == []
        assert instance.get_runs_count(RunsFilter()) == 2


def test_days_to_aggregate_skips_days_every_asset_has(dev_stack: Settings) -> None:
    days = days_ending(datetime(2026, 1, 3, tzinfo=UTC).date(), 3)
    keys = [AssetKey("interactions"), AssetKey("engagement")]
    with instance_for_test() as instance:
        for key in keys:
            instance.report_runless_asset_event(AssetMaterialization(key, partition="2026-01-01"))
        instance.report_runless_asset_event(AssetMaterialization(keys[0], partition="2026-01-02"))
        assert days_to_aggregate(instance, keys, days, set()) == days[1:]
        assert days_to_aggregate(instance, keys, days, {days[0]}) == days


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_serve_answers_then_stops_every_process(
    dev_stack: Settings, catalog_dsn: str, tmp_path: Path
) -> None:
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "REELFLOW_POSTGRES_DSN": catalog_dsn,
        "REELFLOW_OBJECT_STORE": "local",
        "REELFLOW_OBJECT_STORE_DIR": str(tmp_path / "objects"),
        "PYSPARK_PYTHON": sys.executable,
    }
    dagster_port, api_port = free_ports(2)
    children = serve(
        host="127.0.0.1",
        dagster_port=dagster_port,
        api_port=api_port,
        log_dir=tmp_path / "logs",
        env=env,
    )
    try:
        assert [child.name for child in children] == ["dagster-webserver", "dagster-daemon", "api"]
        assert graphql(f"http://127.0.0.1:{dagster_port}", "{ version }")["version"]
        with pytest.raises(RuntimeError, match="in use"):
            serve(
                host="127.0.0.1",
                dagster_port=dagster_port,
                api_port=free_port(),
                log_dir=tmp_path / "logs",
                env=env,
            )
    finally:
        stop(children)
    assert all(child.process.poll() is not None for child in children)
    assert not _listening(dagster_port) and not _listening(api_port)
    # Nothing of their process groups is left: the code servers included.
    assert [group_members(child.process.pid) for child in children] == [[], [], []]
    # Stopping twice is harmless (the demo's clean-up may run after a failed start).
    stop(children)


SPARK_THEN_STOP = """
from pyspark import SparkContext
from pyspark.sql import SparkSession
from cli.demo import stop_spark

def count(n):
    return SparkSession.builder.master("local[1]").getOrCreate().range(n).count()

count(3)
jvm = SparkContext._gateway.proc
stop_spark()
print(jvm.poll() is not None, SparkContext._active_spark_context is None)
stop_spark()
print(count(2))
stop_spark()
"""


def test_stopping_spark_ends_its_jvm_and_a_later_run_starts_another() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", SPARK_THEN_STOP],
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout.split() == ["True", "True", "2"]
