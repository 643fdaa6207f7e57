"""`reelflow demo`: the whole platform on sample media, then the Dagster UI and the API.

Every step is safe to repeat, so a second demo reuses what the first one made:

1. the dev stack (the services that are not running) and the schema migrations;
2. demo accounts with fixed credentials: a creator, a subscriber, a free viewer and an admin;
3. the library: synthetic clips (ffmpeg lavfi sources) and the real clips of
   `../shared/data/media`, stored as the creator's finished uploads, as the upload API leaves them;
4. the media lifecycle of every video not published yet, one `media_lifecycle` run per partition;
5. generated watch events of the demo viewers and of returning viewers with tastes, for each
   recent day that has none of the demo's;
6. the viewing aggregates of the days not materialized yet, one `engagement_daily` run per day;
7. every unpartitioned asset (the recommendation models) when one is missing or new data came in;
8. the Dagster webserver and daemon and the API, until Ctrl-C stops what the demo started.

Runs execute in this process on the Dagster instance of `DAGSTER_HOME`, so the UI shows them
with their logs, materializations and check results like the runs the daemon launches.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO
from uuid import UUID, uuid4

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

from api.security import hash_password, verify_password
from assets.engagement import GROUP as ENGAGEMENT
from devstack import services
from media.samples import make_clip
from reelflow import connect
from reelflow.settings import PROJECT_ROOT, Settings
from storage.catalog import (
    BillingInterval,
    Catalog,
    EncodingStatus,
    NotFound,
    Role,
    SubscriptionStatus,
    UploadStatus,
    User,
    Visibility,
)
from storage.history import History
from storage.migrate import upgrade
from storage.objects import ObjectStore
from storage.seed import (
    Report,
    SeedVideo,
    days_ending,
    reports_as,
    user_reports,
    write_reports,
)

Say = Callable[[str], None]

DEMO_PASSWORD = "reelflow-demo"
REAL_MEDIA_DIR = PROJECT_ROOT.parent / "shared" / "data" / "media"
MEDIA_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})
DEMO_PLAN = "premium-monthly"
# The tastes of the generated viewers: each watches the videos of one audience.
ENGINEERS = "engineers"
ART_LOVERS = "art lovers"
DEFAULT_DAYS = 3
# Enough returning viewers for the recommendation model to be evaluated on (and promoted).
DEFAULT_VIEWERS = 150
# A demo viewer is the busiest of this many generated ones: it watches something every day.
DEMO_BUSIEST = 64
DEFAULT_DAGSTER_PORT = 3000
# Tags every run the demo executes, so the progress printer finds the run among all others.
RUN_TAG = "reelflow/demo"
PARTITION_TAG = "dagster/partition"
VIDEO_PARTITIONS = "videos"
PUBLISHED_KEY = AssetKey("published_video")
ENGAGEMENT_JOB = "engagement_daily"
MEDIA_JOB = "media_lifecycle"
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
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0


def say(text: str) -> None:
    """Write a progress line to the terminal at once (make and pipes would buffer it)."""
    _terminal().write(f"{text}\n")


@functools.cache
def _terminal() -> TextIO:
    # A copy of stdout taken at the first line, before any run: a run in this process points
    # stdout at its step's log file (and echoes it back a moment later) while the step runs.
    return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, errors="replace")


# Accounts


@dataclass(frozen=True)
class DemoAccount:
    """A demo account: its email, role and what it shows."""

    key: str
    email: str
    role: Role
    what: str


DEMO_ACCOUNTS = (
    DemoAccount("subscriber", "subscriber@example.com", Role.VIEWER, "plays all, premium included"),
    DemoAccount("viewer", "viewer@example.com", Role.VIEWER, "free: public videos only"),
    DemoAccount("creator", "creator@example.com", Role.CREATOR, "owns the demo videos, uploads"),
    DemoAccount("admin", "admin@example.com", Role.ADMIN, "moderation, plans, every video"),
)  # fmt: skip


@dataclass(frozen=True)
class DemoUsers:
    """The demo accounts, and what `seed_users` had to create or repair for them."""

    subscriber: User
    viewer: User
    creator: User
    admin: User
    changes: tuple[str, ...]


def seed_users(catalog: Catalog, password: str = DEMO_PASSWORD) -> DemoUsers:
    """The demo accounts with `password`; the subscriber holds an active subscription.

    Existing accounts are kept; only a role or password that no longer matches is set again,
    so the printed credentials always work.
    """
    users: dict[str, User] = {}
    changes: list[str] = []
    for account in DEMO_ACCOUNTS:
        try:
            user = catalog.get_user_by_email(account.email)
        except NotFound:
            user = catalog.create_user(
                account.email,
                hash_password(password),
                role=account.role,
                profile_data={"display_name": f"Demo {account.key}"},
            )
            changes.append(f"created {account.email}")
        if user.role != account.role or not verify_password(user.password_hash, password):
            user = catalog.update_user(
                user.id, role=account.role, password_hash=hash_password(password)
            )
            changes.append(f"reset {account.email}")
        users[account.key] = user

    subscriber = users["subscriber"]
    if catalog.get_active_subscription(subscriber.id) is None:
        _ensure_plan(catalog)
        # Entitlement is the catalog's state (see api/billing.py): granted directly, as the
        # webhook of a paid Stripe subscription would.
        catalog.create_subscription(
            subscriber.id,
            DEMO_PLAN,
            f"sub_demo_{secrets.token_hex(8)}",
            status=SubscriptionStatus.ACTIVE,
            end_date=datetime.now(UTC) + timedelta(days=365),
        )
        users["subscriber"] = catalog.get_user(subscriber.id)
        changes.append(f"subscribed {subscriber.email} to {DEMO_PLAN}")
    return DemoUsers(**users, changes=tuple(changes))


def _ensure_plan(catalog: Catalog) -> None:
    try:
        catalog.get_plan(DEMO_PLAN)
    except NotFound:
        catalog.upsert_plan(
            DEMO_PLAN,
            name="Premium",
            price_cents=999,
            currency="usd",
            interval=BillingInterval.MONTH,
        )


# Library


@dataclass(frozen=True)
class DemoClip:
    """A video of the demo library: a synthetic clip (ffmpeg lavfi source) or a real file."""

    title: str
    description: str
    tags: tuple[str, ...]
    visibility: Visibility = Visibility.PUBLIC
    pattern: str = "testsrc2"
    width: int = 1280
    height: int = 720
    duration_s: float = 12.0
    source: Path | None = None
    # The generated viewers who watch it (a taste the recommendation model can learn).
    audience: str = ENGINEERS

    def file(self, clips_dir: Path) -> Path:
        """The source to upload: the real file, or the synthetic clip made now."""
        if self.source is not None:
            return self.source
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return make_clip(
            clips_dir / f"{slug}.mp4",
            width=self.width,
            height=self.height,
            duration_s=self.duration_s,
            pattern=self.pattern,
        )


SYNTHETIC_CLIPS = (
    DemoClip(
        "Test Card in Motion",
        "ffmpeg's testsrc2 card, moving, with a tone on each stereo channel.",
        ("test-card", "synthetic"),
    ),
    DemoClip(
        "SMPTE HD Colour Bars",
        "The HD colour bars every broadcast engineer knows, for checking a player's colours.",
        ("colour-bars", "synthetic"),
        pattern="smptehdbars",
        duration_s=10.0,
    ),
    DemoClip(
        "Rule 110",
        "An elementary cellular automaton, Wolfram's rule 110, growing down the screen.",
        ("cellular-automaton", "synthetic"),
        pattern="cellauto=rule=110",
        width=640,
        height=360,
        duration_s=16.0,
        audience=ART_LOVERS,
    ),
    DemoClip(
        "Mandelbrot Zoom",
        "A dive into the Mandelbrot set. Premium: encrypted, played with a subscription.",
        ("fractal", "synthetic", "premium"),
        visibility=Visibility.PREMIUM,
        pattern="mandelbrot",
        width=854,
        height=480,
        duration_s=15.0,
        audience=ART_LOVERS,
    ),
)

# The clips known to be in ../shared/data/media; any other file is named after itself.
REAL_CLIPS = {
    "bigbuckbunny": DemoClip(
        "Big Buck Bunny (opening)",
        "The first seconds of the Blender Foundation's open movie, with 5.1 sound.",
        ("animation", "open-movie"),
        audience=ART_LOVERS,
    ),
    "carphone_pristine": DemoClip(
        "Carphone",
        "The classic QCIF test sequence of video coding research: a man talking in a car.",
        ("test-sequence", "qcif"),
    ),
}


def demo_clips(real_media_dir: Path | None = REAL_MEDIA_DIR) -> list[DemoClip]:
    """The synthetic clips, then every video file of `real_media_dir` when it exists."""
    clips = list(SYNTHETIC_CLIPS)
    if real_media_dir is None or not real_media_dir.is_dir():
        return clips
    for path in sorted(real_media_dir.iterdir()):
        if path.suffix.lower() not in MEDIA_SUFFIXES or not path.is_file():
            continue
        known = REAL_CLIPS.get(path.stem)
        clip = known or DemoClip(
            path.stem.replace("_", " ").title(), f"A real clip ({path.name}).", ("real",)
        )
        clips.append(replace(clip, source=path))
    return clips


@dataclass(frozen=True)
class LibraryVideo:
    """A video of the demo library, and whether `seed_library` created or uploaded it now."""

    video_id: UUID
    title: str
    visibility: Visibility
    audience: str
    created: bool
    uploaded: bool


def seed_library(
    catalog: Catalog,
    store: ObjectStore,
    creator: User,
    clips: Sequence[DemoClip],
    clips_dir: Path,
) -> list[LibraryVideo]:
    """One video per clip, owned by `creator` and found again by title.

    A video without a completed upload gets one: the source stored and the upload completed,
    as the upload API leaves it, so that the media lifecycle (or the upload sensor) ingests it.
    """
    existing = {video.title: video for video in catalog.list_videos_by_user(creator.id, limit=1000)}
    library = []
    for clip in clips:
        video = existing.get(clip.title)
        created = video is None
        if video is None:
            video = catalog.create_video(
                creator.id,
                clip.title,
                description=clip.description,
                tags=clip.tags,
                visibility=clip.visibility,
            )
        uploaded = _needs_upload(catalog, video.id, video.encoding_status)
        if uploaded:
            _upload(catalog, store, video.id, clip.file(clips_dir))
        library.append(
            LibraryVideo(video.id, clip.title, clip.visibility, clip.audience, created, uploaded)
        )
    return library


def _needs_upload(catalog: Catalog, video_id: UUID, status: EncodingStatus) -> bool:
    if status == EncodingStatus.PENDING:
        return True
    if status != EncodingStatus.UPLOADING:
        # Processing, ready or failed: the video has its completed upload.
        return False
    return catalog.latest_upload(video_id).status != UploadStatus.COMPLETED


def _upload(catalog: Catalog, store: ObjectStore, video_id: UUID, source: Path) -> None:
    # A fresh key per upload, like the upload API: the catalog keeps one upload per key.
    key = f"uploads/{video_id}/source-{secrets.token_hex(6)}"
    size = source.stat().st_size
    upload = catalog.create_upload(
        video_id, object_key=key, size_bytes=size, content_type="video/mp4"
    )
    store.put_file(key, source, "video/mp4")
    catalog.record_received(upload.id, size)
    catalog.complete_upload(upload.id)


# Watch events


@dataclass(frozen=True)
class WatchableVideo:
    """A published video of the library, as the watch events need it."""

    video: SeedVideo
    visibility: Visibility
    audience: str


def seed_watch_events(
    history: History,
    users: DemoUsers,
    videos: Sequence[WatchableVideo],
    days: Sequence[date],
    viewers: int = DEFAULT_VIEWERS,
) -> dict[date, int]:
    """Watch events of the days of `days` without the demo's; the events written, per day.

    The generated viewers come back day after day, as real ones do, and each watches only the
    videos of one audience: tastes the recommendation model learns and is promoted on. (With a
    handful of videos, the generator's favourite topic, which leaves a fifth of the picks to
    the whole catalogue, lets popularity tie the model on some days.) The subscriber watches
    every video each day, the free viewer those that are not premium. The same days always get
    the same reports. A day with the subscriber's events is left alone, whatever else was
    written on it.
    """
    if not videos:
        return {}
    missing = sorted(day for day in days if not _subscriber_watched(history, users, day))
    if not missing:
        return {}
    histories: list[list[Report]] = []
    audiences = sorted({video.audience for video in videos})
    first = min(days).toordinal()
    for number, audience in enumerate(audiences):
        liked = [video.video for video in videos if video.audience == audience]
        share = viewers // len(audiences) + (number < viewers % len(audiences))
        for reports in user_reports(share, liked, sorted(days), seed=first * 10 + number):
            histories.append([report for report in reports if report.at.date() in missing])
    everything = [video.video for video in videos]
    free = [video.video for video in videos if video.visibility != Visibility.PREMIUM]
    for day in missing:
        seed = day.toordinal()
        # The busiest of many: a demo viewer watches something every day.
        histories.append(reports_as(users.subscriber.id, everything, [day], seed, DEMO_BUSIEST))
        if free:
            histories.append(reports_as(users.viewer.id, free, [day], seed + 1, DEMO_BUSIEST))
    # Viewers in parallel, each one's reports in order, as `seed_events` writes them.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda reports: write_reports(history, reports), histories))
    counts = Counter(report.at.date() for reports in histories for report in reports)
    return {day: counts[day] for day in missing}


def _subscriber_watched(history: History, users: DemoUsers, day: date) -> bool:
    if not history.count_events_for_day(day):
        return False
    return any(event.user_id == users.subscriber.id for event in history.events_for_day(day))


def watchable_videos(catalog: Catalog, library: Sequence[LibraryVideo]) -> list[WatchableVideo]:
    """The published videos of the library, with their durations."""
    published = catalog.get_videos([video.video_id for video in library])
    return [
        WatchableVideo(
            SeedVideo(video.video_id, float(found.duration_s)), video.visibility, video.audience
        )
        for video in library
        if (found := published.get(video.video_id)) is not None
        and found.encoding_status == EncodingStatus.READY
        and found.duration_s is not None
    ]


# Materialization


def _definitions() -> Definitions:
    # Read from the environment at call time, like the code location: the resources of the
    # deployment the demo runs against.
    from pipelines.definitions import build_definitions

    return build_definitions(Settings())


def media_lifecycle_job() -> JobDefinition:
    """The `media_lifecycle` job (a reconstructable target for `execute_job`)."""
    return _definitions().resolve_job_def(MEDIA_JOB)


def engagement_daily_job() -> JobDefinition:
    """The `engagement_daily` job (a reconstructable target for `execute_job`)."""
    return _definitions().resolve_job_def(ENGAGEMENT_JOB)


def unpartitioned_assets_job() -> JobDefinition:
    """A job of every unpartitioned asset (a reconstructable target for `execute_job`)."""
    defs = _definitions()
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
    graph = defs.resolve_asset_graph()
    return sorted(AssetSelection.groups(ENGAGEMENT).materializable().resolve(graph), key=str)


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
        tags = {RUN_TAG: token} | ({PARTITION_TAG: partition} if partition else {})
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
            _terminate_subprocesses()
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


def _terminate_subprocesses() -> None:
    """SIGTERM to this process's children: what a cut-off run left running (ffmpeg, Spark)."""
    for pid, _, ppid, _ in _processes():
        if ppid == os.getpid():
            _kill(pid, signal.SIGTERM)


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
    recorded = set(instance.get_materialized_partitions(PUBLISHED_KEY))
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
        day for day in days if day in fresh or not all(day.isoformat() in d for d in done)
    )


def materialize_days(runs: Runs, days: Sequence[date]) -> list[RunOutcome]:
    """One `engagement_daily` run per day, oldest first (trending reads the days before)."""
    outcomes = []
    for number, day in enumerate(days, 1):
        runs.say(f"  engagement {number}/{len(days)}: {day.isoformat()}")
        outcomes.append(runs.execute(engagement_daily_job, partition=day.isoformat()))
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


# Serving


@dataclass
class Child:
    """A server the demo started, in its own process group."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def serve(
    *, host: str, dagster_port: int, api_port: int, log_dir: Path, env: dict[str, str]
) -> list[Child]:
    """Start the Dagster webserver and daemon and the API; return once each one answers.

    Stops whatever it started when one of them fails to come up.
    """
    for port in (dagster_port, api_port):
        if _port_open(host, port):
            raise RuntimeError(f"{host}:{port} is in use; stop what listens there or pick a port")
    # Dagster creates its SQLite storage on first use: servers starting side by side on a new
    # DAGSTER_HOME race to stamp its schema, so it is created here first.
    with DagsterInstance.from_config(env["DAGSTER_HOME"]):
        pass
    bin_dir = Path(sys.executable).parent
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    dagster_url = f"http://{host}:{dagster_port}"
    api_url = f"http://{host}:{api_port}"
    children: list[Child] = []
    try:
        children.append(
            _spawn(
                "dagster-webserver",
                dagster_url,
                [str(bin_dir / "dagster-webserver"), "-h", host, "-p", str(dagster_port)]
                + ["-w", workspace],
                log_dir,
                env,
            )
        )
        children.append(
            _spawn(
                "dagster-daemon",
                dagster_url,
                [str(bin_dir / "dagster-daemon"), "run", "-w", workspace],
                log_dir,
                env,
            )
        )
        children.append(
            _spawn(
                "api",
                api_url,
                [str(bin_dir / "reelflow"), "api", "--host", host, "--port", str(api_port)],
                log_dir,
                env,
            )
        )
        webserver, daemon, api = children
        _wait(webserver, lambda: _code_location_loaded(dagster_url))
        _wait(daemon, lambda: _daemons_healthy(dagster_url))
        _wait(api, lambda: _http_ok(f"{api_url}/healthz"))
    except BaseException:
        stop(children)
        raise
    return children


def stop(children: Sequence[Child]) -> None:
    """Stop each child's process group: SIGTERM, SIGKILL after a grace period; wait for all."""
    for child in children:
        if child.process.poll() is None:
            _signal_group(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(child.process.pid, signal.SIGKILL)
            child.process.wait()
        # What it started (code servers, run workers) may outlive it: the group goes too.
        _signal_group(child.process.pid, signal.SIGKILL)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(group_members(c.process.pid) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)


def group_members(pgid: int) -> list[int]:
    """The live processes of a process group (zombies left out: they are gone but unreaped)."""
    return [pid for pid, state, _, pgrp in _processes() if pgrp == pgid and state not in "ZX"]


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, read from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            state, ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        yield int(stat.parent.name), state, int(ppid), int(pgrp)


def wait_until_interrupted(children: Sequence[Child]) -> None:
    """Block until SIGINT or SIGTERM; raise RuntimeError when a server exits by itself."""
    while True:
        for child in children:
            code = child.process.poll()
            if code is not None:
                raise RuntimeError(f"{child.name} exited with status {code}.\n{_tail(child.log)}")
        time.sleep(1)


def _spawn(name: str, url: str, cmd: list[str], log_dir: Path, env: dict[str, str]) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        out.flush()
        # Its own session: Ctrl-C in the terminal reaches the demo only, which stops the servers
        # in order, and a server's whole process group is signalled at once.
        process = subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child(name, url, process, log)


def _wait(child: Child, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited during start-up.\n{_tail(child.log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{child.name} did not answer within {START_TIMEOUT_S:.0f} s.\n{_tail(child.log)}"
            )
        time.sleep(0.5)


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `data` of a GraphQL request to the Dagster webserver at `url`."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    data: dict[str, Any] = answer["data"]
    return data


LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
DAEMONS_QUERY = (
    "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"
)


def _code_location_loaded(url: str) -> bool:
    try:
        workspace = graphql(url, LOCATIONS_QUERY)["workspaceOrError"]
    except (OSError, RuntimeError):
        return False
    entries = workspace.get("locationEntries") or []
    for entry in entries:
        error = entry.get("locationOrLoadError") or {}
        if error.get("__typename") == "PythonError":
            raise RuntimeError(f"code location {entry['name']} failed to load: {error['message']}")
    return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)


def _daemons_healthy(url: str) -> bool:
    try:
        statuses = graphql(url, DAEMONS_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
    except (OSError, RuntimeError):
        return False
    return all(status["healthy"] for status in statuses if status["required"])


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _kill(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no log at {log})"
    return f"last lines of {log}:\n" + "\n".join(text[-lines:])


# The whole demo


@dataclass(frozen=True)
class DemoOptions:
    days: int = DEFAULT_DAYS
    viewers: int = DEFAULT_VIEWERS
    host: str = "127.0.0.1"
    dagster_port: int = DEFAULT_DAGSTER_PORT
    serve: bool = True
    real_media_dir: Path | None = REAL_MEDIA_DIR


def run_demo(settings: Settings, options: DemoOptions) -> int:
    """Everything `make demo` does; the exit status (0 after Ctrl-C while serving)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _stop_on_signals()
    started: list[str] = []
    children: list[Child] = []
    try:
        with _phase("dev stack"):
            started = start_services(settings)
        outcomes = build_platform(settings, options, dagster_instance(settings))
        failed = [outcome.run_id[:8] for outcome in outcomes if not outcome.success]
        if failed:
            say(f"{len(failed)} run(s) failed: {', '.join(failed)}; the Dagster UI has their logs")
        if not options.serve:
            return 1 if failed else 0
        with _phase("servers"):
            children = serve(
                host=options.host,
                dagster_port=options.dagster_port,
                api_port=settings.api_port,
                log_dir=settings.state_dir / "demo" / "logs",
                env=child_environment(),
            )
        _print_welcome(children)
        wait_until_interrupted(children)
        return 0
    except KeyboardInterrupt:
        say("\nstopping what the demo started ...")
        return 0 if children else 130
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stop(children)
            stop_services(settings, started)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def build_platform(
    settings: Settings, options: DemoOptions, instance: DagsterInstance
) -> list[RunOutcome]:
    """Accounts, library, watch events and every asset, reusing what exists; the runs made."""
    runs = Runs(instance)
    with connect.catalog(settings) as catalog:
        with _phase("accounts and library"):
            users = seed_users(catalog)
            for change in users.changes:
                say(f"  {change}")
            library = seed_library(
                catalog,
                connect.object_store(settings),
                users.creator,
                demo_clips(options.real_media_dir),
                settings.state_dir / "demo" / "clips",
            )
            for video in library:
                state = "new" if video.created else "uploaded" if video.uploaded else "exists"
                say(f"  {state:<8} {video.visibility.value:<8} {video.title}")
        with _phase("media lifecycle, one run per video partition"):
            todo = videos_to_process(catalog, instance, library)
            if not todo:
                say(f"  all {len(library)} videos are published")
            materialize_videos(runs, library, todo)
        days = days_ending(datetime.now(UTC).date() - timedelta(days=1), options.days)
        with _phase(f"watch events, {days[0]} to {days[-1]}"), connect.history(settings) as history:
            watchable = watchable_videos(catalog, library)
            written = seed_watch_events(history, users, watchable, days, options.viewers)
            if not watchable:
                say("  no video is published: nothing to watch")
            for day in days if watchable else []:
                count = written.get(day)
                say(f"  {day}: " + (f"{count} events written" if day in written else "exist"))
    defs = _definitions()
    with _phase("viewing aggregates, one run per day partition"):
        todo_days = days_to_aggregate(instance, daily_assets(defs), days, set(written))
        if not todo_days:
            say("  every day is aggregated")
        materialize_days(runs, todo_days)
    with _phase("unpartitioned assets"):
        outcome = materialize_unpartitioned(
            runs, unpartitioned_assets(defs), inputs_changed=bool(todo_days)
        )
        if outcome is None:
            say("  up to date")
    stop_spark()
    return runs.outcomes


def start_services(settings: Settings) -> list[str]:
    """Bring the dev stack up and migrate; the names of the services that were not running."""
    running = {status.name for status in services.status(settings) if status.pid is not None}
    statuses = services.up(settings)
    started = [status.name for status in statuses if status.name not in running]
    for status in statuses:
        state = "started" if status.name in started else "running"
        say(f"  {status.name:<12} {state:<8} {status.endpoint}")
    upgrade(settings.postgres_dsn)
    connect.history(settings).close()
    return started


def stop_services(settings: Settings, names: Sequence[str]) -> None:
    """Stop the dev stack services named (those the demo started)."""
    for service in reversed(services.services(settings)):
        if service.name in names and service.stop():
            say(f"  stopped {service.name}")


def dagster_instance(settings: Settings) -> DagsterInstance:
    """The instance of `DAGSTER_HOME` (default: the state dir's), configured as `make` does."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return DagsterInstance.get()


def child_environment() -> dict[str, str]:
    """The environment of the servers: this one, plus what Spark needs, as `make` sets it."""
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env


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


def _print_welcome(children: Sequence[Child]) -> None:
    urls = {child.name: child.url for child in children}
    api = urls["api"]
    say("")
    say("Reelflow is running. Ctrl-C stops it.")
    say(f"  Dagster UI        {urls['dagster-webserver']}  (asset graph, runs, checks)")
    say(f"  Player and feed   {api}/")
    say(f"  API docs          {api}/docs")
    say(f"Demo accounts, password '{DEMO_PASSWORD}':")
    for account in DEMO_ACCOUNTS:
        say(f"  {account.email:<24} {account.what}")
    say(f"Server logs: {children[0].log.parent}")


def _stop_on_signals() -> None:
    """SIGINT (Ctrl-C) and SIGTERM both raise KeyboardInterrupt, even if inherited ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _phase(name: str) -> Iterator[None]:
    say(f"== {name}")
    started = time.monotonic()
    yield
    say(f"   done in {time.monotonic() - started:.1f} s")
