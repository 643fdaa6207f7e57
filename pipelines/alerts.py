"""Alerts for the people who run Reelflow: failed runs, stale datasets and models, videos stuck
`processing`.

- `run_failure_alert`: every failed run of the code location is mailed to `REELFLOW_OPS_EMAIL`
  with its job, run id, failed steps and their errors, and posted to the Slack incoming webhook
  of `REELFLOW_SLACK_WEBHOOK_URL` when one is set. With neither, the failure is only logged.
- Freshness checks on the daily datasets (a UTC day is due 36 h after it ended) and on the
  promoted model (one at least every 8 days), run by `freshness_sensor` whenever one of them
  could have become overdue; their results show on the assets in the Dagster UI.
- `stuck_video_alert`: videos waiting in `processing` longer than
  `REELFLOW_PROCESSING_ALERT_AFTER_S` are mailed to the same people.
"""

import json
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from dagster import (
    AssetChecksDefinition,
    AssetCheckSeverity,
    DagsterEvent,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    SupersessionWarning,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
    run_failure_sensor,
    sensor,
)
from dagster._core.events import JobFailureData
from dagster._utils.error import SerializableErrorInfo

from assets.engagement import ENGAGEMENT_KEY, INTERACTIONS_KEY, trending_videos
from assets.recommendations import promoted_model
from assets.resources import CatalogResource
from pipelines.recovery import will_retry
from reelflow.mail import MailKind, SmtpSender, compose
from reelflow.settings import Settings
from storage.catalog import Catalog, ProcessingVideo

# The datasets analysts read, one partition per UTC day.
DAILY_DATASETS = [INTERACTIONS_KEY, ENGAGEMENT_KEY, trending_videos.key]
# A day's datasets are due this long after the day ended: the night's run, and a morning to
# re-run it by hand when it failed.
DATASET_DUE_AFTER = timedelta(hours=36)
# Models are trained weekly; a day more, and the served one is overdue.
MODEL_DUE_AFTER = timedelta(days=8)
FRESHNESS_SCAN_S = 600
STUCK_SCAN_S = 300
# Errors in mail and Slack posts: enough for a stack trace's last frames, never a whole log.
MAX_ERROR_CHARS = 3000
SLACK_TIMEOUT_S = 10.0


def dataset_due_cron(due_after: timedelta) -> str:
    """The daily moment (UTC) at which the day that ended `due_after` earlier is due."""
    hours, rest = divmod(due_after, timedelta(hours=1))
    if rest or hours < 1:
        raise ValueError(f"a dataset is due a whole number of hours after its day: {due_after}")
    return f"0 {hours % 24} * * *"


with warnings.catch_warnings():
    # Dagster points at freshness policies instead: those are judged in Dagster+, where checks
    # have results that the open-source UI shows and sensors read.
    warnings.simplefilter("ignore", SupersessionWarning)
    # Per day of data rather than per update: at each deadline the day that ended
    # DATASET_DUE_AFTER before must have been written since it ended. (The time-partition
    # checks would ask for the day in progress: the assets' partitions include today.)
    DATASET_FRESHNESS = build_last_update_freshness_checks(
        assets=DAILY_DATASETS,
        lower_bound_delta=DATASET_DUE_AFTER,
        deadline_cron=dataset_due_cron(DATASET_DUE_AFTER),
        severity=AssetCheckSeverity.ERROR,
    )
    MODEL_FRESHNESS = build_last_update_freshness_checks(
        assets=[promoted_model],
        lower_bound_delta=MODEL_DUE_AFTER,
        severity=AssetCheckSeverity.ERROR,
    )
    FRESHNESS_CHECKS: list[AssetChecksDefinition] = [*DATASET_FRESHNESS, *MODEL_FRESHNESS]
    freshness_sensor = build_sensor_for_freshness_checks(
        freshness_checks=FRESHNESS_CHECKS,
        minimum_interval_seconds=FRESHNESS_SCAN_S,
        default_status=DefaultSensorStatus.RUNNING,
    )


class AlertNotSent(RuntimeError):
    """An alert did not reach one of its channels."""


class OpsAlerts:
    """The channels of operations alerts: mail to the ops address, a Slack incoming webhook."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.ops_email) or self.settings.slack_webhook_url is not None

    def send(self, kind: MailKind, payload: Mapping[str, Any]) -> list[str]:
        """Send the alert to every configured channel; the channels it reached. AlertNotSent
        once every channel was tried, when one of them failed."""
        s = self.settings
        message = compose(s, kind, s.ops_email or "", payload)
        reached, failed = [], []
        if s.ops_email:
            try:
                self._mail(message)
                reached.append(f"mail to {s.ops_email}")
            except Exception as exc:
                failed.append(f"mail to {s.ops_email}: {exc}")
        if s.slack_webhook_url is not None:
            try:
                post_to_slack(s.slack_webhook_url.get_secret_value(), slack_text(message))
                reached.append("Slack")
            except OSError as exc:
                failed.append(f"Slack: {exc}")
        if failed:
            raise AlertNotSent("; ".join(failed))
        return reached

    def _mail(self, message: EmailMessage) -> None:
        sender = SmtpSender(self.settings)
        smtp = sender.open()
        try:
            sender.send(smtp, message)
        finally:
            smtp.quit()


def slack_text(message: EmailMessage) -> str:
    """The message as a Slack post: its subject in bold, then its text."""
    body = message.get_body(preferencelist=("plain",))
    text = str(body.get_content()) if body is not None else ""
    return f"*{message['Subject']}*\n{text.strip()}"


def post_to_slack(webhook_url: str, text: str) -> None:
    """Post `text` to a Slack incoming webhook; OSError (an HTTPError among them) otherwise."""
    request = urllib.request.Request(
        webhook_url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=SLACK_TIMEOUT_S) as response:
        response.read()


def run_failure_payload(
    context: RunFailureSensorContext, dagster_url: str | None
) -> dict[str, Any]:
    """What the failure mail says about the run of `context`."""
    run = context.dagster_run
    failure = context.failure_event.event_specific_data
    run_error = (
        _error_text(failure.error)
        if isinstance(failure, JobFailureData) and failure.error is not None
        else context.failure_event.message
    )
    return {
        "job": run.job_name,
        "run_id": run.run_id,
        "steps": [
            {"step": event.step_key, "error": step_error(event)}
            for event in context.get_step_failure_events()
        ],
        "run_error": run_error,
        "will_retry": will_retry(context.instance, run),
        "run_url": f"{dagster_url.rstrip('/')}/runs/{run.run_id}" if dagster_url else None,
    }


def step_error(event: DagsterEvent) -> str:
    """The error of a failed step: the description of a `Failure` it raised, else the error
    with its stack trace."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    if data.error is None:
        return "no error was recorded"
    return _error_text(data.error)


def _error_text(error: SerializableErrorInfo) -> str:
    # Dagster wraps the error of the user's code in errors of its own, with its own frames.
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    text = error.to_string().strip()
    return text if len(text) <= MAX_ERROR_CHARS else "…" + text[-(MAX_ERROR_CHARS - 1) :]


def run_failure_alert(settings: Settings) -> SensorDefinition:
    """The sensor that tells the ops address (and Slack) of every failed run."""
    alerts = OpsAlerts(settings)

    @run_failure_sensor(name="run_failure_alert", default_status=DefaultSensorStatus.RUNNING)
    def run_failure_alert(context: RunFailureSensorContext) -> None:
        """Mail (and post to Slack) the job, run id, failed steps and errors of a failed run."""
        run = context.dagster_run
        if not alerts.configured:
            context.log.warning(
                f"run {run.run_id} of {run.job_name} failed; no REELFLOW_OPS_EMAIL nor "
                "REELFLOW_SLACK_WEBHOOK_URL to tell"
            )
            return
        payload = run_failure_payload(context, settings.dagster_url)
        reached = alerts.send(MailKind.RUN_FAILED, payload)
        context.log.info(f"failure of run {run.run_id} sent: {', '.join(reached)}")

    return run_failure_alert


def stuck_videos(catalog: Catalog, now: datetime, after: timedelta) -> list[ProcessingVideo]:
    """The videos that, at `now`, have been waiting in `processing` for longer than `after`."""
    return catalog.list_processing_videos(since_before=now - after)


def stuck_payload(
    videos: Sequence[ProcessingVideo], now: datetime, after: timedelta
) -> dict[str, Any]:
    return {
        "threshold_s": after.total_seconds(),
        "videos": [
            {
                "video_id": str(video.id),
                "title": video.title,
                "waiting_s": (now - video.since).total_seconds(),
            }
            for video in videos
        ],
    }


def stuck_video_alert(settings: Settings) -> SensorDefinition:
    """The sensor that mails the ops address the videos stuck in `processing`.

    A sensor rather than an asset check: a video waiting for a run that never started, or
    whose run is lost, has no materialization for a check to judge (its partition of the media
    assets may not even exist in this instance), and the state to watch is the catalog's
    across every video, on a clock. `stalled_video_sensor` (pipelines/recovery.py) later queues
    such videos again, then fails them; this one tells a person first.
    """
    after = timedelta(seconds=settings.processing_alert_after_s)
    alerts = OpsAlerts(settings)

    @sensor(
        name="stuck_video_alert",
        minimum_interval_seconds=STUCK_SCAN_S,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def stuck_video_alert(context: SensorEvaluationContext, catalog: CatalogResource) -> SkipReason:
        """Mail the videos waiting in `processing` too long, once per video while it waits."""
        now = datetime.now(UTC)
        stuck = stuck_videos(catalog.catalog, now, after)
        reported = set(filter(None, (context.cursor or "").split(",")))
        new = [video for video in stuck if str(video.id) not in reported]
        # A video that recovered and gets stuck again is told again.
        context.update_cursor(",".join(sorted(str(video.id) for video in stuck)))
        if not new:
            return SkipReason(f"{len(stuck)} video(s) stuck, none new")
        if not alerts.configured:
            context.log.warning(f"{len(new)} video(s) stuck in processing; no one to tell")
        else:
            reached = alerts.send(MailKind.VIDEOS_STUCK, stuck_payload(new, now, after))
            context.log.info(f"{len(new)} stuck video(s) sent: {', '.join(reached)}")
        return SkipReason(f"{len(new)} newly stuck video(s) told")

    return stuck_video_alert
