"""Recovery of media runs, so that no video is left `processing`.

- `media_failure_sensor` and `media_cancel_sensor`: a `media_lifecycle` run that ended for good
  without publishing fails its video with a reason its creator can read: the blocking checks that
  failed and what they found, else the step that failed and its error, else that the run was
  lost. A failed run that Dagster's run retries will run again is left to its retry. A video with
  a published version stays `ready` and keeps playing it.
- `stalled_video_sensor`: a video `processing` with no change for longer than
  `REELFLOW_STALLED_AFTER_S` and no live run is queued again once, then failed.

A video whose partition has a live run is never touched: that run decides what becomes of it.
"""

from datetime import timedelta
from uuid import UUID

from dagster import (
    AssetCheckSeverity,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._utils.error import SerializableErrorInfo

from assets.ingest import VIDEO_PARTITIONS, videos
from assets.resources import CatalogResource, ObjectStoreResource
from pipelines.jobs import media_lifecycle
from pipelines.sensors import UNFINISHED
from reelflow import layout
from reelflow.media_runs import PARTITION_TAG, UPLOAD_TAG

# Dagster's tags on runs: the partition, the sensor's run key, and on a failed run (when run
# retries are enabled) why it failed and whether the retry daemon will run it again.
FAILURE_REASON_TAG = "dagster/failure_reason"
WILL_RETRY_TAG = "dagster/will_retry"
# Runs the stall sensor queued again, and the retries of those runs (they inherit their tags).
REQUEUE_TAG = "reelflow/requeue"

LIVE = [*UNFINISHED, DagsterRunStatus.CANCELING]
CANCELED_REASON = "processing was canceled"
LOST_REASON = "the run was lost"
# Reasons are shown to creators: one line or a few, never a traceback.
MAX_REASON_CHARS = 1000
STALL_SCAN_S = 300


@run_failure_sensor(monitored_jobs=[media_lifecycle], default_status=DefaultSensorStatus.RUNNING)
def media_failure_sensor(
    context: RunFailureSensorContext, catalog: CatalogResource, object_store: ObjectStoreResource
) -> None:
    """Fail the video of a media run that failed for good, saying what failed."""
    run = context.dagster_run
    if will_retry(context.instance, run):
        context.log.info(f"run {run.run_id} will be retried; video {context.partition_key} waits")
        return
    reason = failure_reason(context.instance, run.run_id, context.failure_event)
    _settle(context, catalog, object_store, reason)


@run_status_sensor(
    run_status=DagsterRunStatus.CANCELED,
    monitored_jobs=[media_lifecycle],
    default_status=DefaultSensorStatus.RUNNING,
)
def media_cancel_sensor(
    context: RunStatusSensorContext, catalog: CatalogResource, object_store: ObjectStoreResource
) -> None:
    """Fail the video of a canceled media run."""
    _settle(context, catalog, object_store, CANCELED_REASON)


def _settle(
    context: RunStatusSensorContext,
    catalog: CatalogResource,
    object_store: ObjectStoreResource,
    reason: str,
) -> None:
    """Fail the run's video with `reason`, unless it moved on or another run of it is live, and
    delete what its runs left in the store (a premium video's clear segments among it)."""
    run = context.dagster_run
    partition = context.partition_key
    video_id = _uuid(partition)
    if partition is None or video_id is None:
        context.log.warning(f"run {run.run_id} names no video partition ({partition!r})")
        return
    if has_live_run(context.instance, partition):
        context.log.info(f"video {partition} has a live run; it decides, not run {run.run_id}")
        return
    # None for a run that no upload started (a re-run from the UI, a stall's re-queue).
    upload_id = _uuid(run.tags.get(UPLOAD_TAG))
    video = catalog.catalog.fail_processing(video_id, reason, upload_id=upload_id)
    removed = object_store.store().delete_prefix(layout.video_work_prefix(video_id))
    context.log.info(f"{removed} working objects of video {partition} deleted")
    if video is None:
        context.log.info(f"video {partition} had moved on; run {run.run_id} changes nothing")
    else:
        context.log.info(f"video {partition} is {video.encoding_status}: {reason}")


def will_retry(instance: DagsterInstance, run: DagsterRun) -> bool:
    """Whether Dagster's run retries will run this failed run again."""
    tag = run.tags.get(WILL_RETRY_TAG)
    if tag is not None:
        return tag.lower() == "true"
    if not instance.run_retries_enabled:
        return False
    # The instance tags a failed run just after storing its failure, so a sensor may see the
    # failure first; the same function decides the tag.
    reason = run.tags.get(FAILURE_REASON_TAG)
    return auto_reexecution_should_retry_run(
        instance, run, RunFailureReason(reason) if reason else None
    )


def failure_reason(instance: DagsterInstance, run_id: str, failure: DagsterEvent) -> str:
    """Why a run failed, for its creator: the failed blocking checks with what each found, else
    the first failed step with its error, else that the run was lost (its worker died, it never
    started, it ran out of time).

    Read from the run's events, so checks count whether they run as steps of their own or
    inside their asset's step.
    """
    types = {DagsterEventType.ASSET_CHECK_EVALUATION, DagsterEventType.STEP_FAILURE}
    events = [e.dagster_event for e in instance.all_logs(run_id, of_type=types) if e.dagster_event]
    checks = [
        event.asset_check_evaluation_data
        for event in events
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    blocking = [
        check
        for check in checks
        if not check.passed and check.blocking and check.severity == AssetCheckSeverity.ERROR
    ]
    if blocking:
        return _short(
            "; ".join(f"{check.check_name}: {check.description or 'failed'}" for check in blocking)
        )
    steps = [event for event in events if event.event_type == DagsterEventType.STEP_FAILURE]
    if steps:
        step = steps[0]
        data = step.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            message = _first_line(data.user_failure_data.description)
        elif data.error is not None:
            message = _error_message(data.error)
        else:
            message = "no error was recorded"
        return _short(f"step {step.step_key} failed: {message}")
    run_failure = failure.event_specific_data
    if isinstance(run_failure, JobFailureData) and run_failure.error is not None:
        return _short(f"the run failed: {_error_message(run_failure.error)}")
    return _short(
        f"{LOST_REASON}: {_first_line(failure.message)}" if failure.message else LOST_REASON
    )


def stalled_video_sensor(stalled_after: timedelta) -> SensorDefinition:
    """The reconciler of videos `processing` with no change for `stalled_after` and no live run:
    each is queued again once; when that run stalls too, the video fails."""
    hours = stalled_after.total_seconds() / 3600
    reason = f"processing stalled: no progress for {hours:g} h, then again after a retry"

    @sensor(
        name="stalled_video_sensor",
        job=media_lifecycle,
        minimum_interval_seconds=STALL_SCAN_S,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def stalled_video_sensor(
        context: SensorEvaluationContext,
        catalog: CatalogResource,
        object_store: ObjectStoreResource,
    ) -> SensorResult | SkipReason:
        """Queue again once, then fail, every video left `processing` with no live run."""
        requests = []
        for video in catalog.catalog.list_stalled_videos(stalled_after):
            partition = str(video.id)
            if has_live_run(context.instance, partition):
                continue
            last = last_run(context.instance, partition)
            if last is not None and REQUEUE_TAG in last.tags:
                if catalog.catalog.fail_processing(video.id, reason) is not None:
                    context.log.info(f"video {partition} failed: {reason}")
                    object_store.store().delete_prefix(layout.video_work_prefix(video.id))
                continue
            requests.append(
                RunRequest(
                    partition_key=partition,
                    # One stall is the state the partition's last run left: asked for once.
                    run_key=f"stalled:{partition}:{last.run_id if last else 'no-run'}",
                    tags={REQUEUE_TAG: "stalled"},
                )
            )
        if not requests:
            return SkipReason("no stalled video to queue again")
        known = set(context.instance.get_dynamic_partitions(VIDEO_PARTITIONS))
        # A video can outlive its partition (a new Dagster instance): add it back.
        missing = sorted({str(r.partition_key) for r in requests} - known)
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[videos.build_add_request(missing)] if missing else [],
        )

    return stalled_video_sensor


def has_live_run(instance: DagsterInstance, partition: str) -> bool:
    """Whether a media run of the partition is queued, starting, running or canceling."""
    live = RunsFilter(job_name=media_lifecycle.name, tags={PARTITION_TAG: partition}, statuses=LIVE)
    return instance.get_runs_count(live) > 0


def last_run(instance: DagsterInstance, partition: str) -> DagsterRun | None:
    """The newest media run of the partition, in any state."""
    runs = instance.get_runs(
        RunsFilter(job_name=media_lifecycle.name, tags={PARTITION_TAG: partition}), limit=1
    )
    return runs[0] if runs else None


def _uuid(text: str | None) -> UUID | None:
    try:
        return UUID(text) if text else None
    except ValueError:
        return None


def _error_message(error: SerializableErrorInfo) -> str:
    """The first line of the error a framework error wraps, without its class name."""
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    text = _first_line(error.message)
    qualified, sep, rest = text.partition(": ")
    if sep and qualified.rsplit(".", 1)[-1] == error.cls_name:
        return rest
    return text


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
