"""The demo's runs: every asset materialized in this process, through the code location's jobs.

Runs execute on the Dagster instance of `DAGSTER_HOME`, so the UI shows them with their logs,
materializations and check results like the runs the daemon launches. The jobs, partitions and
asset keys are the ones `pipelines/` and `assets/` define.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import uuid4

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    EventLogEntry,
    JobDefinition,
    RunsFilter,
    define_asset_job,
    execute_job,
    reconstructable,
)

from assets.engagement import daily_partitions
from assets.ingest import VIDEO_PARTITIONS
from assets.publish import published_video
from cli.demo.seeding import LibraryVideo
from cli.demo.terminal import Say, say
from devstack.processes import terminate_children
from pipelines.analytics_jobs import engagement_daily
from pipelines.jobs import media_lifecycle
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus

# Tags every run the demo executes, so the progress printer finds the run among all others.
RUN_TAG = "reelflow/demo"
MAX_RETRIES_TAG = "dagster/max_retries"
# Dagster's own tag for the partition a run materializes.
UNPARTITIONED_JOB = "unpartitioned_assets"
# In this process (no subprocess per step: that costs seconds of imports each), and without
# Dagster's console log (failures included: the UI has them): the demo prints its own lines.
RUN_CONFIG = {
    "execution": {"config": {"in_process": {}}},
    "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
}
FOLLOWED_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}


def definitions() -> Definitions:
    """The code location's definitions, with the resources of the deployment of the environment.

    Read at call time, like the code location, so a run sees the environment it runs in.
    """
    from pipelines.definitions import build_definitions

    return build_definitions(Settings())


def media_lifecycle_job() -> JobDefinition:
    """The `media_lifecycle` job (a reconstructable target for `execute_job`)."""
    return definitions().resolve_job_def(media_lifecycle.name)


def engagement_daily_job() -> JobDefinition:
    """The `engagement_daily` job (a reconstructable target for `execute_job`)."""
    return definitions().resolve_job_def(engagement_daily.name)


def unpartitioned_assets_job() -> JobDefinition:
    """A job of every unpartitioned asset (a reconstructable target for `execute_job`)."""
    defs = definitions()
    job = define_asset_job(
        UNPARTITIONED_JOB, selection=AssetSelection.assets(*unpartitioned_assets(defs))
    )
    return Definitions.merge(defs, Definitions(jobs=[job])).resolve_job_def(UNPARTITIONED_JOB)


def unpartitioned_assets(defs: Definitions) -> list[AssetKey]:
    """Every materializable asset without partitions, whatever stage adds it."""
    graph = defs.resolve_asset_graph()
    keys = AssetSelection.all().materializable().resolve(graph)
    return sorted((k for k in keys if not graph.get(k).is_partitioned), key=str)


def daily_assets(defs: Definitions) -> list[AssetKey]:
    """The assets the `engagement_daily` job materializes (its selection)."""
    return sorted(engagement_daily.selection.resolve(defs.resolve_asset_graph()), key=str)


def day_partition(day: date) -> str:
    """The key of `day` among the daily partitions of the viewing aggregates."""
    return day.strftime(daily_partitions.fmt)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    elapsed_s: float


@dataclass
class Runs:
    """Executes jobs in this process on `instance`, printing their steps as they happen."""

    instance: DagsterInstance
    say: Say = say
    outcomes: list[RunOutcome] = field(default_factory=list)

    def execute(
        self, job: Callable[[], JobDefinition], *, partition: str | None = None
    ) -> RunOutcome:
        """Run `job` (on `partition`); Ctrl-C cancels the run and raises KeyboardInterrupt."""
        token = uuid4().hex
        # Run in this process, not by a code location: Dagster's run retries could not relaunch
        # one, so none is promised (and a failed video fails at once, not after a stall).
        tags = {RUN_TAG: token, MAX_RETRIES_TAG: "0"}
        if partition:
            # The partition's own tags, as a sensor's or the UI's run of it has them.
            tags |= job().get_tags_for_partition_key(partition, selected_asset_keys=None)
        ended: dict[str, Any] = {}

        def work() -> None:
            try:
                with execute_job(
                    reconstructable(job),
                    self.instance,
                    run_config=RUN_CONFIG,
                    tags=tags,
                    raise_on_error=False,
                ) as result:
                    ended["outcome"] = (result.run_id, result.success)
            except BaseException as exc:  # any way the run ends, the waiting thread learns it
                ended["error"] = exc

        # Off the main thread: there Dagster would turn Ctrl-C into a failed run (or miss it)
        # and return, and the demo would go on with the next run instead of stopping.
        worker = threading.Thread(target=work, name="dagster-run", daemon=True)
        follower = _Follower(self.instance, token, self.say)
        started = time.monotonic()
        worker.start()
        try:
            while worker.is_alive():
                follower.poll()
                worker.join(0.5)
        except KeyboardInterrupt:
            self._cancel(follower.run_id)
            # What the cut-off run left running: ffmpeg, Spark.
            terminate_children()
            raise
        follower.poll()
        if "error" in ended:
            raise ended["error"]
        run_id, success = ended["outcome"]
        outcome = RunOutcome(run_id, success, time.monotonic() - started)
        status = "succeeded" if success else "FAILED (see its logs in the Dagster UI)"
        self.say(f"    run {run_id[:8]} {status} in {outcome.elapsed_s:.1f} s")
        self.outcomes.append(outcome)
        return outcome

    def _cancel(self, run_id: str | None) -> None:
        run = self.instance.get_run_by_id(run_id) if run_id else None
        if run is not None and not run.is_finished:
            self.instance.report_run_canceled(run, message="The demo was stopped during the run.")
            self.say(f"    run {run.run_id[:8]} canceled")


@dataclass
class _Follower:
    """Prints the progress events of the run tagged with `token`, as they are stored."""

    instance: DagsterInstance
    token: str
    say: Say
    run_id: str | None = None
    cursor: str | None = None

    def poll(self) -> None:
        if self.run_id is None:
            records = self.instance.get_run_records(RunsFilter(tags={RUN_TAG: self.token}), limit=1)
            self.run_id = records[0].dagster_run.run_id if records else None
        while self.run_id is not None:
            page = self.instance.get_records_for_run(
                self.run_id, cursor=self.cursor, of_type=FOLLOWED_EVENTS, limit=100
            )
            for record in page.records:
                line = progress_line(record.event_log_entry)
                if line:
                    self.say(line)
            self.cursor = page.cursor
            if not page.has_more:
                return


def progress_line(entry: EventLogEntry) -> str | None:
    """One line for a step starting or failing, an asset materialized or a check evaluated."""
    event = entry.dagster_event
    if event is None:
        return None
    if event.event_type == DagsterEventType.STEP_START:
        return f"    . {event.step_key}"
    if event.event_type == DagsterEventType.ASSET_MATERIALIZATION and event.asset_key:
        return f"    + {event.asset_key.to_user_string()} materialized"
    if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
        check = event.asset_check_evaluation_data
        verdict = "passed" if check.passed else "FAILED"
        return f"    {'v' if check.passed else 'x'} check {check.check_name} {verdict}"
    if event.event_type == DagsterEventType.STEP_FAILURE:
        message = (event.message or "").strip().splitlines()
        return f"    x {event.step_key} failed: {message[0] if message else ''}"
    return None


def videos_to_process(
    catalog: Catalog, instance: DagsterInstance, library: Sequence[LibraryVideo]
) -> list[LibraryVideo]:
    """The videos not published yet, or whose publication the instance has no record of."""
    recorded = set(instance.get_materialized_partitions(published_video.key))
    return [
        video
        for video in library
        if str(video.video_id) not in recorded
        or catalog.get_video(video.video_id).encoding_status != EncodingStatus.READY
    ]


def materialize_videos(
    runs: Runs, library: Sequence[LibraryVideo], todo: Sequence[LibraryVideo]
) -> list[RunOutcome]:
    """Register every library video as a partition, then run the media lifecycle of `todo`."""
    instance = runs.instance
    known = set(instance.get_dynamic_partitions(VIDEO_PARTITIONS))
    new_keys = [str(v.video_id) for v in library if str(v.video_id) not in known]
    if new_keys:
        instance.add_dynamic_partitions(VIDEO_PARTITIONS, new_keys)
    outcomes = []
    for number, video in enumerate(todo, 1):
        runs.say(
            f"  media {number}/{len(todo)}: {video.title} ({video.visibility.value}), "
            f"partition {video.video_id}"
        )
        outcomes.append(runs.execute(media_lifecycle_job, partition=str(video.video_id)))
    return outcomes


def days_to_aggregate(
    instance: DagsterInstance, keys: Sequence[AssetKey], days: Sequence[date], fresh: set[date]
) -> list[date]:
    """The days that one of `keys` lacks, or whose events were just written; oldest first."""
    done = [set(instance.get_materialized_partitions(key)) for key in keys]
    return sorted(
        day for day in days if day in fresh or not all(day_partition(day) in d for d in done)
    )


def materialize_days(runs: Runs, days: Sequence[date]) -> list[RunOutcome]:
    """One `engagement_daily` run per day, oldest first (trending reads the days before)."""
    outcomes = []
    for number, day in enumerate(days, 1):
        runs.say(f"  engagement {number}/{len(days)}: {day.isoformat()}")
        outcomes.append(runs.execute(engagement_daily_job, partition=day_partition(day)))
    return outcomes


def materialize_unpartitioned(
    runs: Runs, keys: Sequence[AssetKey], *, inputs_changed: bool
) -> RunOutcome | None:
    """One run of every asset of `keys`, unless each exists already and no input changed."""
    missing = [key for key in keys if runs.instance.get_latest_materialization_event(key) is None]
    if not keys or not (missing or inputs_changed):
        return None
    runs.say(f"  assets: {', '.join(key.to_user_string() for key in keys)}")
    return runs.execute(unpartitioned_assets_job)


def stop_spark() -> None:
    """Stop the Spark context the aggregates left in this process, and its JVM.

    They ran on a worker thread, so `getActiveSession` here sees none. Stopping the context
    alone leaves the JVM running while the demo serves: it keeps its memory and the Cassandra
    connector's sessions, which then complain when the dev stack stops.
    """
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is not None:
        context.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    process = getattr(gateway, "proc", None)
    if process is not None:
        # The JVM exits when its stdin closes.
        process.stdin.close()
        process.wait(timeout=60)
    SparkContext._gateway = None
    SparkContext._jvm = None
