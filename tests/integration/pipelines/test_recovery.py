"""Recovery of media runs on a real catalog and Dagster instances configured like the project's:
a run that fails for good fails its video with a reason its creator can read (unless a retry
will follow, or a published version keeps playing), a canceled run fails it, and a video left
`processing` with no live run is queued again once, then failed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    ExecuteInProcessResult,
    JobDefinition,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._core.events import JobFailureData, RunFailureReason

from media.samples import make_clip
from pipelines.definitions import build_definitions
from pipelines.recovery import (
    CANCELED_REASON,
    LOST_REASON,
    PARTITION_TAG,
    REQUEUE_TAG,
    WILL_RETRY_TAG,
    media_cancel_sensor,
    media_failure_sensor,
)
from reelflow import connect, layout
from reelflow.media_runs import run_tags
from reelflow.settings import PROJECT_ROOT, Settings
from storage.catalog import EncodingStatus, Visibility
from storage.objects import LocalObjectStore
from tests.fixtures.lifecycle import Platform
from tests.fixtures.media_pipeline import media_resources
from tests.fixtures.processes import dagster_environment, dagster_server
from tests.fixtures.uploads import finished_upload
from tests.integration.storage.catalog.test_videos import idle

# The local instance and the production one, whose storage sections need PostgreSQL and S3 and
# are left out: their run retries and run monitoring are what these tests exercise.
INSTANCE_CONFIGS = ["dagster.yaml", "deploy/dagster.yaml"]
STALLED_AFTER = timedelta(hours=2)
# A quality floor no lossy encode reaches: the real quality check fails and blocks publishing.
UNREACHABLE_SSIM = 0.9999
SETTLED_TIMEOUT_S = 300


def instance_config(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / name).read_text())
    return {key: value for key, value in config.items() if key not in {"storage", "compute_logs"}}


@dataclass
class Ticks:
    """Evaluations of one sensor, its cursor kept from tick to tick as the daemon keeps it."""

    sensor: SensorDefinition
    platform: Platform
    # The code location, which a sensor asking for partitioned runs needs. Run status sensors
    # go without: they then match runs launched from no code location, like these tests' runs.
    definitions: Definitions | None = None
    cursor: str | None = None
    reacted: list[str] = field(default_factory=list)

    def __call__(self) -> SensorExecutionData:
        resources = {key: self.platform.resources[key] for key in ("catalog", "object_store")}
        instance = self.platform.instance
        with build_sensor_context(
            instance=instance,
            # As the daemon's: its partitions loader needs the instance's ref.
            instance_ref=instance.get_ref(),
            resources=resources,
            cursor=self.cursor,
            definitions=self.definitions,
        ) as context:
            data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        for reaction in data.dagster_run_reactions or []:
            assert reaction.error is None, reaction.error
            assert reaction.dagster_run is not None
            self.reacted.append(reaction.dagster_run.run_id)
        return data


@dataclass
class Recovery:
    """A platform with the recovery sensors, their cursors set before any run, as the daemon
    sets them when it starts them."""

    platform: Platform
    failed: Ticks
    canceled: Ticks
    stalled: Ticks

    def upload(self, tmp_path: Path, name: str) -> UUID:
        """A new video whose upload of a short clip completed, its partition added."""
        source = make_clip(tmp_path / f"{name}.mp4", width=320, height=240, duration_s=2.0)
        video_id = self.platform.upload(source, Visibility.PUBLIC)
        self.platform.sense()
        return video_id

    def job(self, **settings: Any) -> JobDefinition:
        """The code location's media job, on this platform (with `settings` changed)."""
        changed = self.platform.settings.model_copy(update=settings)
        return build_definitions(changed).resolve_job_def("media_lifecycle")

    def run(
        self,
        video_id: UUID,
        *,
        tags: dict[str, str] | None = None,
        only_ingest: bool = False,
        **settings: Any,
    ) -> ExecuteInProcessResult:
        """A run of the media job on the video's partition (only `source_video` when
        `only_ingest`, which leaves the video `processing` as a run that stopped there)."""
        return self.job(**settings).execute_in_process(
            instance=self.platform.instance,
            partition_key=str(video_id),
            tags=tags,
            asset_selection=[AssetKey("source_video")] if only_ingest else None,
            raise_on_error=False,
        )

    def new_run(self, video_id: UUID, tags: dict[str, str] | None = None, **kw: Any) -> DagsterRun:
        """A media run of the video, created and not started yet (as the daemon creates one
        before it queues it)."""
        return self.platform.instance.create_run_for_job(
            self.job(),
            tags={PARTITION_TAG: str(video_id)} | (tags or {}),
            status=DagsterRunStatus.NOT_STARTED,
            **kw,
        )

    def status(self, video_id: UUID) -> tuple[EncodingStatus, str | None]:
        video = self.platform.catalog.get_video(video_id)
        return video.encoding_status, video.failure_reason


@pytest.fixture(params=INSTANCE_CONFIGS[:1])
def recovery(
    request: pytest.FixtureRequest, dev_stack: Settings, catalog_dsn: str, tmp_path: Path
) -> Iterator[Recovery]:
    """A fresh catalog, a local store and an instance configured by the project's
    `dagster.yaml` (or `deploy/dagster.yaml`), with the recovery sensors."""
    settings = dev_stack.model_copy(
        update={
            "postgres_dsn": catalog_dsn,
            "object_store": "local",
            "object_store_dir": tmp_path / "objects",
            "work_dir": tmp_path / "work",
            "x264_preset": "ultrafast",
            "stalled_after_s": STALLED_AFTER.total_seconds(),
        }
    )
    definitions = build_definitions(settings)
    with (
        connect.catalog(settings) as catalog,
        instance_for_test(overrides=instance_config(request.param)) as instance,
    ):
        store = connect.object_store(settings)
        platform = Platform(settings, catalog, store, media_resources(settings), instance)
        recovery = Recovery(
            platform,
            Ticks(media_failure_sensor, platform),
            Ticks(media_cancel_sensor, platform),
            Ticks(definitions.resolve_sensor_def("stalled_video_sensor"), platform, definitions),
        )
        for ticks in (recovery.failed, recovery.canceled):
            assert ticks().skip_message is not None
        yield recovery


@pytest.mark.parametrize("recovery", INSTANCE_CONFIGS, indirect=True)
def test_a_failed_blocking_check_fails_the_video_with_what_the_check_found(
    recovery: Recovery, tmp_path: Path
) -> None:
    video_id = recovery.upload(tmp_path, "clip")

    result = recovery.run(video_id, quality_ssim_floor=UNREACHABLE_SSIM)
    work = layout.video_work_prefix(video_id)
    assert recovery.platform.store.list(work), "the failed run left its working objects"
    recovery.failed()

    assert not result.success
    # Nothing of the failed run stays in the store: no clear copy of a video that never played.
    assert recovery.platform.store.list(work) == []
    [failed] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed.check_name == "renditions_quality" and failed.description
    # Run retries are on, but a run failed by a step is not retried: the video fails at once.
    run = recovery.platform.instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags[WILL_RETRY_TAG] == "false"
    assert recovery.failed.reacted == [result.run_id]
    assert recovery.status(video_id) == (
        EncodingStatus.FAILED,
        f"renditions_quality: {failed.description}",
    )
    assert recovery.platform.catalog.get_video(video_id).published_version is None


def test_a_run_that_will_be_retried_leaves_the_video_processing(
    recovery: Recovery, tmp_path: Path
) -> None:
    video_id = recovery.upload(tmp_path, "clip")

    # The run opts in to retries of runs failed by their steps.
    opt_in = {"dagster/retry_on_asset_or_op_failure": "true"}
    result = recovery.run(video_id, tags=opt_in, quality_ssim_floor=UNREACHABLE_SSIM)
    recovery.failed()

    assert not result.success
    run = recovery.platform.instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags[WILL_RETRY_TAG] == "true"
    assert recovery.failed.reacted == [result.run_id]
    assert recovery.status(video_id) == (EncodingStatus.PROCESSING, None)


@pytest.mark.parametrize("recovery", INSTANCE_CONFIGS, indirect=True)
def test_a_lost_run_is_retried_twice_then_fails_the_video(
    recovery: Recovery, tmp_path: Path
) -> None:
    video_id = recovery.upload(tmp_path, "clip")
    assert recovery.run(video_id, only_ingest=True).success
    assert recovery.status(video_id) == (EncodingStatus.PROCESSING, None)
    instance = recovery.platform.instance
    timed_out = "Run timed out due to taking longer than 180 seconds to start."

    first = recovery.new_run(video_id)
    parent = first
    for attempt in range(3):
        if attempt:
            # The retry daemon's re-execution: same group, same tags, its retry number.
            group = {
                "dagster/root_run_id": first.run_id,
                "dagster/parent_run_id": parent.run_id,
                "dagster/retry_number": str(attempt),
            }
            parent = recovery.new_run(
                video_id, tags=group, root_run_id=first.run_id, parent_run_id=parent.run_id
            )
        # What run monitoring reports for a run that never started.
        instance.report_run_failed(
            parent, timed_out, JobFailureData(None, RunFailureReason.START_TIMEOUT)
        )
        recovery.failed()
        retried = attempt < 2
        run = instance.get_run_by_id(parent.run_id)
        assert run is not None and run.tags[WILL_RETRY_TAG] == str(retried).lower()
        expected = (EncodingStatus.PROCESSING, None)
        if not retried:
            expected = (EncodingStatus.FAILED, f"{LOST_REASON}: {timed_out}")
        assert recovery.status(video_id) == expected


def test_a_run_failing_on_a_published_video_leaves_it_ready_and_playing(
    recovery: Recovery, tmp_path: Path
) -> None:
    video_id = recovery.upload(tmp_path, "clip")
    assert recovery.run(video_id).success
    catalog, store = recovery.platform.catalog, recovery.platform.store
    published = catalog.get_video(video_id)
    streams = catalog.list_stream_assets(video_id)

    reprocessed = recovery.run(video_id, quality_ssim_floor=UNREACHABLE_SSIM)
    recovery.failed()

    assert not reprocessed.success
    assert recovery.failed.reacted == [reprocessed.run_id]
    video = catalog.get_video(video_id)
    assert (video.encoding_status, video.failure_reason) == (EncodingStatus.READY, None)
    assert video.published_version == published.published_version
    assert catalog.list_stream_assets(video_id) == streams
    for stream in streams:
        assert store.exists(recovery.platform.key_of(stream.cdn_url))


def test_a_rejected_upload_keeps_the_reason_ingest_gave(recovery: Recovery, tmp_path: Path) -> None:
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_bytes(b"plain text, not a video\n" * 100)
    video_id = recovery.platform.upload(not_a_video, Visibility.PUBLIC)
    recovery.platform.sense()

    result = recovery.run(video_id)
    rejected = recovery.status(video_id)
    recovery.failed()

    assert not result.success
    assert recovery.failed.reacted == [result.run_id]
    assert rejected[0] == EncodingStatus.FAILED and rejected[1]
    assert rejected[1].startswith("not_media")
    assert recovery.status(video_id) == rejected


def test_a_canceled_run_fails_the_video_that_awaited_it(recovery: Recovery, tmp_path: Path) -> None:
    video_id = recovery.upload(tmp_path, "clip")
    upload = recovery.platform.catalog.latest_completed_upload(video_id)
    # The run the upload sensor asked for, not started yet.
    run = recovery.new_run(video_id, run_tags(video_id, upload.id))
    assert recovery.status(video_id) == (EncodingStatus.UPLOADING, None)

    # What the run queue does when an operator cancels a queued run.
    recovery.platform.instance.report_run_canceled(run)
    recovery.canceled()

    assert recovery.canceled.reacted == [run.run_id]
    assert recovery.status(video_id) == (EncodingStatus.FAILED, CANCELED_REASON)


def test_a_failure_never_touches_a_video_whose_newer_run_is_live(
    recovery: Recovery, tmp_path: Path
) -> None:
    video_id = recovery.upload(tmp_path, "clip")
    assert recovery.run(video_id, only_ingest=True).success
    old = recovery.new_run(video_id)
    recovery.new_run(video_id)

    recovery.platform.instance.report_run_canceled(old)
    recovery.canceled()

    assert recovery.canceled.reacted == [old.run_id]
    assert recovery.status(video_id) == (EncodingStatus.PROCESSING, None)


def requested(data: SensorExecutionData) -> list[tuple[str | None, str | None, str | None]]:
    """The partition, run key and re-queue tag of each requested run."""
    return [(r.partition_key, r.run_key, r.tags.get(REQUEUE_TAG)) for r in data.run_requests or []]


def test_a_stalled_video_is_queued_again_once_then_failed(
    recovery: Recovery, tmp_path: Path, catalog_dsn: str
) -> None:
    platform = recovery.platform
    stalled = recovery.upload(tmp_path, "stalled")
    stalled_run = recovery.run(stalled, only_ingest=True)
    assert stalled_run.success
    recent = recovery.upload(tmp_path, "recent")
    assert recovery.run(recent, only_ingest=True).success
    live = recovery.upload(tmp_path, "live")
    assert recovery.run(live, only_ingest=True).success
    recovery.new_run(live)
    # A video whose partition the instance does not know (its runs are in another instance).
    unknown = platform.catalog.create_video(
        platform.catalog.get_video(stalled).uploaded_by_user_id, "Unknown"
    ).id
    platform.catalog.set_encoding_status(unknown, EncodingStatus.PROCESSING)
    for video_id in (stalled, live, unknown):
        idle(catalog_dsn, video_id, 3)
    idle(catalog_dsn, recent, 1)

    first = recovery.stalled()

    assert requested(first) == [
        (str(stalled), f"stalled:{stalled}:{stalled_run.run_id}", "stalled"),
        (str(unknown), f"stalled:{unknown}:no-run", "stalled"),
    ]
    [added] = first.dynamic_partitions_requests or []
    assert list(added.partition_keys or []) == [str(unknown)]
    # The same stall asks for the same run key, which the daemon launches once.
    assert requested(recovery.stalled()) == requested(first)

    # The daemon launches the request; its run stops after ingest, leaving the video processing.
    request: RunRequest = (first.run_requests or [])[0]
    assert request.run_key is not None
    launched = {**request.tags, "dagster/run_key": request.run_key}
    requeued = recovery.run(stalled, tags=launched, only_ingest=True)
    assert requeued.success
    platform.catalog.set_encoding_status(unknown, EncodingStatus.FAILED, "settled elsewhere")
    assert recovery.stalled().skip_message is not None

    idle(catalog_dsn, stalled, 3)
    last = recovery.stalled()

    assert requested(last) == []
    assert recovery.status(stalled) == (
        EncodingStatus.FAILED,
        "processing stalled: no progress for 2 h, then again after a retry",
    )
    assert recovery.status(recent) == (EncodingStatus.PROCESSING, None)
    assert recovery.status(live) == (EncodingStatus.PROCESSING, None)


def test_with_only_the_daemon_a_failed_check_fails_the_video_without_a_retry(
    dev_stack: Settings, catalog_dsn: str, tmp_path: Path
) -> None:
    env = dagster_environment(catalog_dsn, tmp_path)
    env["REELFLOW_QUALITY_SSIM_FLOOR"] = str(UNREACHABLE_SSIM)
    store = LocalObjectStore(Path(env["REELFLOW_OBJECT_STORE_DIR"]), "http://cdn", b"k")
    source = make_clip(tmp_path / "clip.mp4", width=320, height=240, duration_s=2.0)
    log = tmp_path / "daemon.log"

    with connect.catalog(dev_stack.model_copy(update={"postgres_dsn": catalog_dsn})) as catalog:
        video_id = finished_upload(catalog, store, source, Visibility.PUBLIC)
        # The upload sensor starts the run, run monitoring and retries watch it, the failure
        # sensor settles the video: all of them as the daemon runs them by default.
        with dagster_server("dagster-daemon", ["run", "-w", "workspace.yaml"], env, log):
            deadline = time.monotonic() + SETTLED_TIMEOUT_S
            video = catalog.get_video(video_id)
            while video.encoding_status in (EncodingStatus.UPLOADING, EncodingStatus.PROCESSING):
                assert time.monotonic() < deadline, "not settled:\n" + log.read_text()[-3000:]
                time.sleep(2)
                video = catalog.get_video(video_id)

    assert video.encoding_status == EncodingStatus.FAILED, log.read_text()[-3000:]
    assert video.failure_reason is not None
    assert video.failure_reason.startswith("renditions_quality: ")
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs(RunsFilter(tags={PARTITION_TAG: str(video_id)}))
    assert [(run.status, run.tags.get(WILL_RETRY_TAG)) for run in runs] == [
        (DagsterRunStatus.FAILURE, "false")
    ]
