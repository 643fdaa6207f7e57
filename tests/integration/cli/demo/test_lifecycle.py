"""The demo's runs on a test database, object store and Dagster instance, through the code
location's own jobs and partitions."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from dagster import AssetKey, AssetMaterialization, RunsFilter, instance_for_test

from assets.ingest import VIDEO_PARTITIONS
from cli.demo.lifecycle import (
    Runs,
    days_to_aggregate,
    materialize_videos,
    videos_to_process,
)
from cli.demo.seeding import DemoClip, seed_library, seed_users, watchable_videos
from cli.demo.serving import child_environment
from cli.demo.showcase import CAPTIONS, seed_captions
from pipelines.jobs import media_lifecycle
from reelflow.layout import hls_master_key, video_prefix
from reelflow.media_runs import PARTITION_TAG
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus, Visibility
from storage.objects import LocalObjectStore
from storage.seed import days_ending
from tests.integration.cli.demo.conftest import TINY_PUBLIC


def test_media_lifecycle_runs_once_per_video(
    monkeypatch: pytest.MonkeyPatch,
    dev_stack: Settings,
    catalog: Catalog,
    catalog_dsn: str,
    store: LocalObjectStore,
    tiny_clips: list[DemoClip],
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
    # Long enough for the demo's captions, whose last cue ends at 7 s.
    clips = [replace(clip, duration_s=8.0) if clip == TINY_PUBLIC else clip for clip in tiny_clips]
    library = seed_library(catalog, store, users.creator, clips, tmp_path / "clips")
    public = next(video for video in library if video.visibility == Visibility.PUBLIC)
    assert seed_captions(catalog, store, library) == (f"captions in en, fr on {public.title!r}")
    assert seed_captions(catalog, store, library) == f"captions of {public.title!r} exist"
    with instance_for_test() as instance:
        assert videos_to_process(catalog, instance, library) == library
        lines: list[str] = []
        runs = Runs(instance, say=lines.append)
        # Two partitions: each run's steps and checks must see their own video only.
        outcomes = materialize_videos(runs, library, library)

        assert all(outcome.success for outcome in outcomes), "\n".join(lines)
        assert sorted(instance.get_dynamic_partitions(VIDEO_PARTITIONS)) == sorted(
            str(video.video_id) for video in library
        )
        for video, outcome in zip(library, outcomes, strict=True):
            assert catalog.get_video(video.video_id).encoding_status == EncodingStatus.READY
            run = instance.get_run_by_id(outcome.run_id)
            assert run is not None
            assert (run.job_name, run.tags[PARTITION_TAG]) == (
                media_lifecycle.name,
                str(video.video_id),
            )
        assert lines.count("    + published_video materialized") == 2
        assert any(line.startswith("    v check ") for line in lines)
        assert not any(" FAILED" in line for line in lines)
        # The demo's captions went out with the public video's first version.
        version = store.current_version(video_prefix(public.video_id))
        assert version is not None
        master = store.get_bytes(hls_master_key(public.video_id, version)).decode()
        assert master.count("TYPE=SUBTITLES") == len(CAPTIONS)
        watchable = watchable_videos(catalog, library)
        assert [(w.video.video_id, w.visibility, w.audience) for w in watchable] == [
            (v.video_id, v.visibility, v.audience) for v in library
        ]

        assert videos_to_process(catalog, instance, library) == []
        assert materialize_videos(runs, library, []) == []
        assert instance.get_runs_count(RunsFilter()) == 2


def test_days_to_aggregate_skips_days_every_asset_has(dev_stack: Settings) -> None:
    days = days_ending(date(2026, 1, 3), 3)
    keys = [AssetKey("interactions"), AssetKey("engagement")]
    with instance_for_test() as instance:
        for key in keys:
            instance.report_runless_asset_event(AssetMaterialization(key, partition="2026-01-01"))
        instance.report_runless_asset_event(AssetMaterialization(keys[0], partition="2026-01-02"))
        assert days_to_aggregate(instance, keys, days, set()) == days[1:]
        assert days_to_aggregate(instance, keys, days, {days[0]}) == days


SPARK_THEN_STOP = """
from pyspark import SparkContext
from pyspark.sql import SparkSession
from cli.demo.lifecycle import stop_spark

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
