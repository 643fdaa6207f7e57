"""Scale benchmark: the same videos' media lifecycle in the run's own process and on a worker pool.

    .venv/bin/python bench/scale.py [--videos 4] [--workers 2] [--concurrency 1] [--runs 1]
                                    [--no-hand-off] [--keep DIR]

Needs the dev stack (PostgreSQL, S3Proxy, RabbitMQ: `make services`). Each path runs on a
deployment of this machine started for it (`devstack.pool`): a Dagster daemon with the production
instance configuration (`deploy/dagster.yaml`: runs and events in a new PostgreSQL database,
compute logs in S3), a new catalog database, and a new S3 bucket for the objects and the steps'
outputs. The paths differ in the executor only:

- in-process: `REELFLOW_MEDIA_EXECUTOR=in_process`; each run executes its steps one after
  another in its own process.
- pool: `REELFLOW_MEDIA_EXECUTOR=celery`; each step goes through RabbitMQ (a new virtual host of
  the dev stack's broker) to `--workers` `reelflow worker` processes, each with a directory of
  its own as if on a host of its own.

On each, `--videos` clips are uploaded at once as a creator's client uploads them (a multipart
upload to S3 through the presigned part URLs, then the completion the API runs), then, once they
are all ready, one more clip alone. Figures come from the catalog (when an upload completed, when
its video became ready) and from the runs' event logs (when each stage and step started and
ended). The ratio pool / in-process is the worker pool's overhead on one machine.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Run as `python bench/scale.py`, the script's directory would shadow the project's packages.
sys.path[0] = str(PROJECT_ROOT)

from dagster import DagsterEventType, RunsFilter  # noqa: E402
from dagster._core.scheduler.instigation import InstigatorType, TickStatus  # noqa: E402
from dagster._core.storage.tags import PARTITION_NAME_TAG  # noqa: E402
from portpicker import pick_unused_port  # noqa: E402

from api.media_runs import MediaRuns  # noqa: E402
from cli.demo.serving import DagsterWebserver  # noqa: E402
from devstack import pool  # noqa: E402
from devstack.rabbitmq import RabbitMQ  # noqa: E402
from media.samples import make_clip  # noqa: E402
from reelflow.settings import Settings  # noqa: E402
from storage.catalog import Catalog, EncodingStatus, Visibility  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.objects import ObjectStore, Part  # noqa: E402
from storage.uploads import NewVideo, complete_upload, open_upload  # noqa: E402

# The short clip: 10 s, 640x272 (two rungs).
WIDTH, HEIGHT, DURATION_S = 640, 272, 10.0
PATHS = ("in-process", "pool")
READY_TIMEOUT_S = 900.0
WEBSERVER_TIMEOUT_S = 180.0
POLL_S = 0.2
FIRST_STEP = "source_video"
ENCODE_STEP = "renditions"
UPLOAD_SENSOR = "upload_sensor"
# How dagster-celery's engine event reads when the run's executor sends a step.
SUBMITTED = "Submitting celery task for step"


@dataclass
class RunTimes:
    """One run as its event log tells it, in seconds since the epoch."""

    created: float
    enqueued: float | None = None
    starting: float | None = None
    started: float | None = None
    submitted: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    step_start: dict[str, float] = field(default_factory=dict)
    step_end: dict[str, float] = field(default_factory=dict)

    def work_s(self) -> float:
        """The steps' own work: the sum of their durations."""
        return sum(self.step_end[step] - self.step_start[step] for step in self.step_end)

    def busy_s(self, until: float) -> float:
        """How long at least one step was executing, up to `until`."""
        spans = sorted(
            (start, min(self.step_end.get(step, until), until))
            for step, start in self.step_start.items()
        )
        busy, reached = 0.0, 0.0
        for start, end in spans:
            start = max(start, reached)
            if end > start:
                busy += end - start
                reached = end
        return busy


@dataclass
class VideoTimes:
    """One video: when its upload completed, when it became ready, and its run."""

    completed: float
    ready: float
    run: RunTimes

    @property
    def total_s(self) -> float:
        return self.ready - self.completed

    def until(self, step: str) -> float:
        """From the upload's completion to the start of `step`."""
        return self.run.step_start[step] - self.completed

    def stages(self) -> dict[str, float]:
        """Where the time from the upload's completion to `ready` went."""
        run = self.run
        first = run.step_start[FIRST_STEP]
        stages = {"run request": run.created - self.completed}
        if run.starting is not None:
            stages["run queue"] = run.starting - run.created
        if run.starting is not None and run.started is not None:
            stages["run worker start"] = run.started - run.starting
        if FIRST_STEP in run.submitted and run.started is not None:
            stages["executor start"] = run.submitted[FIRST_STEP] - run.started
            stages["broker to worker"] = run.received[FIRST_STEP] - run.submitted[FIRST_STEP]
            stages["step set-up"] = first - run.received[FIRST_STEP]
        elif run.started is not None:
            stages["executor start"] = first - run.started
        busy = run.busy_s(self.ready)
        stages["steps executing"] = busy
        stages["between steps"] = self.ready - first - busy
        return stages


@dataclass
class Measurement:
    """One path's batch and lone clip."""

    path: str
    batch: list[VideoTimes]
    single: VideoTimes

    @property
    def wall_s(self) -> float:
        """From the first upload's completion to the last video's `ready`."""
        return max(v.ready for v in self.batch) - min(v.completed for v in self.batch)

    @property
    def execution_s(self) -> float:
        """From the first run's creation (the sensor's request) to the last video's `ready`."""
        return max(v.ready for v in self.batch) - min(v.run.created for v in self.batch)


def main() -> None:
    args = _parse_args()
    settings = Settings()
    if not RabbitMQ(settings).is_ready():
        sys.exit("the dev stack's broker does not answer: start the dev stack (make services)")
    print(f"machine: {os.cpu_count()} cores; load average at start: {_loadavg()}")
    print(
        f"{args.videos} videos of {WIDTH}x{HEIGHT}, {DURATION_S:g} s, "
        f"x264 preset {settings.x264_preset}; pool: {args.workers} workers, "
        f"concurrency {args.concurrency}"
    )
    results: dict[str, list[Measurement]] = {path: [] for path in PATHS}
    with ExitStack() as stack:
        if args.keep:
            directory = Path(args.keep)
            directory.mkdir(parents=True, exist_ok=True)
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-")))
        clip = make_clip(
            directory / "clip.mp4", width=WIDTH, height=HEIGHT, duration_s=DURATION_S
        ).read_bytes()
        for run in range(args.runs):
            # Rotating the order spreads warm-up and background load over both paths.
            order = PATHS[run % 2 :] + PATHS[: run % 2]
            for path in order:
                with deployment(settings, directory / f"run{run + 1}-{path}", path, args) as site:
                    measured = measure(site, path, clip, args.videos)
                results[path].append(measured)
                _print_measurement(run, args.runs, measured)
    _report(results)
    print(f"load average at end: {_loadavg()}")


@dataclass
class Site:
    """A deployment of this machine: the pool, its catalog and its store."""

    pool: pool.WorkerPool
    catalog: Catalog
    store: ObjectStore
    directory: Path
    settings: Settings
    # The API's hand-off of completed uploads to the webserver; None leaves them to the sensor.
    media_runs: MediaRuns | None


@contextmanager
def deployment(
    settings: Settings, directory: Path, path: str, args: argparse.Namespace
) -> Iterator[Site]:
    """A daemon (and for `pool`, its workers) on new databases, bucket and broker vhost."""
    admin = settings.postgres_dsn
    with ExitStack() as stack:
        instance_db = stack.enter_context(pool.database(admin))
        catalog_dsn = pool.database_dsn(admin, stack.enter_context(pool.database(admin)))
        upgrade(catalog_dsn)
        store = stack.enter_context(pool.bucket(settings))
        if path == "pool":
            broker_url = stack.enter_context(pool.broker_vhost(RabbitMQ(settings)))
        else:
            broker_url = settings.broker_url.get_secret_value()
        environment = pool.pool_environment(
            settings,
            broker_url=broker_url,
            instance_dsn=pool.database_dsn(admin, instance_db),
            catalog_dsn=catalog_dsn,
            store=store,
        )
        environment["REELFLOW_MEDIA_EXECUTOR"] = "celery" if path == "pool" else "in_process"
        started = time.perf_counter()
        workers = args.workers if path == "pool" else 0
        site_pool = stack.enter_context(
            pool.worker_pool(
                directory, environment, workers, "--concurrency", str(args.concurrency)
            )
        )
        media_runs = None
        if args.hand_off:
            port = pick_unused_port()
            webserver = site_pool.start_webserver(port)
            url = f"http://127.0.0.1:{port}"
            webserver.wait_ready(DagsterWebserver(url).location_loaded, WEBSERVER_TIMEOUT_S)
            media_runs = MediaRuns(url)
        servers = "daemon, webserver" if args.hand_off else "daemon"
        print(
            f"{path}: {servers} and {workers} workers up in {time.perf_counter() - started:.1f} s"
        )
        catalog = stack.enter_context(Catalog(catalog_dsn, max_size=2))
        yield Site(site_pool, catalog, store, directory, settings, media_runs)


def measure(site: Site, path: str, clip: bytes, videos: int) -> Measurement:
    """The batch of `videos` uploads at once, then one upload alone, each just after a tick of
    the upload sensor: left to the sensor, both paths then wait for it the same time, its whole
    interval; handed off, no tick of the sensor comes between an upload and its hand-off."""
    after_sensor_tick(site)
    batch = [upload(site, clip) for _ in range(videos)]
    batch_times = [times(site, video_id) for video_id in batch]
    after_sensor_tick(site)
    single = upload(site, clip)
    return Measurement(path, batch_times, times(site, single))


def after_sensor_tick(site: Site) -> None:
    """Return once the upload sensor has ended an evaluation that started after this call."""
    instance = site.pool.instance()
    since = time.time()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        states = [
            state
            for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
            if state.instigator_name == UPLOAD_SENSOR
        ]
        ticks = [
            tick
            for state in states
            for tick in instance.get_ticks(
                state.instigator_origin_id, state.selector_id, after=since, limit=1
            )
        ]
        if any(tick.status != TickStatus.STARTED for tick in ticks):
            return
        if time.monotonic() > deadline:
            sys.exit(f"the {UPLOAD_SENSOR} did not tick in {READY_TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)


def upload(site: Site, clip: bytes) -> UUID:
    """A new creator's video, its clip uploaded and the upload completed as the API does."""
    user = site.catalog.create_user(f"scale-{secrets.token_hex(4)}@example.com", "argon2-hash")
    new = NewVideo(user.id, "Scale clip", len(clip), "video/mp4", visibility=Visibility.PUBLIC)
    ticket = open_upload(
        site.catalog,
        site.store,
        new,
        max_bytes=site.settings.max_upload_bytes,
        chunk_size=site.settings.upload_chunk_max_bytes,
    )
    parts = []
    for number, url in enumerate(ticket.part_urls, start=1):
        data = clip[(number - 1) * ticket.chunk_size : number * ticket.chunk_size]
        request = urllib.request.Request(
            url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
        )
        with urllib.request.urlopen(request) as response:
            parts.append(Part(number, response.headers["ETag"]))
    video_id = ticket.upload.video_id
    completed = complete_upload(site.catalog, site.store, site.directory, video_id, parts)
    # What the API's completion does next, once it has answered.
    if site.media_runs is not None and site.media_runs.start(video_id, completed.upload.id) is None:
        sys.exit(f"the webserver did not queue the run of video {video_id}")
    return video_id


def times(site: Site, video_id: UUID) -> VideoTimes:
    """The video's times once it is ready and its run has ended."""
    instance = site.pool.instance()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        video = site.catalog.get_video(video_id)
        if video.encoding_status == EncodingStatus.FAILED:
            sys.exit(f"video {video_id} failed: {video.failure_reason}")
        runs = instance.get_runs(RunsFilter(tags={PARTITION_NAME_TAG: str(video_id)}))
        if video.encoding_status == EncodingStatus.READY and all(r.is_finished for r in runs):
            break
        if time.monotonic() > deadline:
            sys.exit(f"video {video_id} not ready in {READY_TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)
    [run] = runs
    completed = site.catalog.latest_completed_upload(video_id).completed_at
    assert completed is not None and video.published_at is not None
    return VideoTimes(
        completed.timestamp(), video.published_at.timestamp(), run_times(site, run.run_id)
    )


def run_times(site: Site, run_id: str) -> RunTimes:
    """A run's stages and steps from its event log."""
    instance = site.pool.instance()
    record = instance.get_run_record_by_id(run_id)
    assert record is not None
    run = RunTimes(created=record.create_timestamp.timestamp())
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind, step, at = event.event_type, event.step_key, entry.timestamp
        if kind == DagsterEventType.RUN_ENQUEUED:
            run.enqueued = at
        elif kind == DagsterEventType.RUN_STARTING:
            run.starting = at
        elif kind == DagsterEventType.RUN_START:
            run.started = at
        elif kind == DagsterEventType.STEP_START and step:
            run.step_start[step] = at
        elif kind == DagsterEventType.STEP_SUCCESS and step:
            run.step_end[step] = at
        elif kind == DagsterEventType.ENGINE_EVENT and step:
            if (event.message or "").startswith(SUBMITTED):
                run.submitted.setdefault(step, at)
            elif pool.WORKER_METADATA in event.event_specific_data.metadata:  # type: ignore[union-attr]
                run.received[step] = at
    return run


def _print_measurement(run: int, runs: int, measured: Measurement) -> None:
    batch = measured.batch
    print(
        f"run {run + 1}/{runs} {measured.path}: {len(batch)} videos ready in "
        f"{measured.wall_s:.1f} s from the first upload's completion, "
        f"{measured.execution_s:.1f} s from the first run's request; load {_loadavg()}"
    )
    encode = [v.until(ENCODE_STEP) for v in batch]
    first = [v.until(FIRST_STEP) for v in batch]
    print(
        f"  queueing: upload complete -> first step median {statistics.median(first):.1f} s, "
        f"-> first encode step median {statistics.median(encode):.1f} s (max {max(encode):.1f})"
    )
    stages: dict[str, list[float]] = {}
    for video in batch:
        for name, seconds in video.stages().items():
            stages.setdefault(name, []).append(seconds)
    print(
        "    batch stages (median, max): "
        + ", ".join(
            f"{name} {statistics.median(values):.2f} {max(values):.2f}"
            for name, values in stages.items()
        )
    )
    single = measured.single
    print(
        f"  lone clip: upload complete -> ready {single.total_s:.1f} s (from the run's request "
        f"{single.ready - single.run.created:.1f} s); steps' own work {single.run.work_s():.1f} s"
    )
    print("    " + ", ".join(f"{name} {s:.2f}" for name, s in single.stages().items()))
    steps = single.run.step_start
    print(
        "    steps: "
        + ", ".join(
            f"{step} {single.run.step_end[step] - start:.2f}"
            for step, start in sorted(steps.items(), key=lambda item: item[1])
        )
    )


def _report(results: dict[str, list[Measurement]]) -> None:
    median = statistics.median
    runs = len(results[PATHS[0]])
    print()
    print("batch: wall s from the first upload's completion / from the first run's request to")
    print("the last ready; median s from completion to the first encode step. lone clip:")
    print("s from completion / from the run's request to ready; its steps' own work s; ratios")
    print("to that work" + ("" if runs == 1 else f" (medians of {runs} runs)"))
    columns = ("wall", "request", "to encode", "clip", "clip req", "work", "ratio", "ratio req")
    print(f"{'path':<11}" + "".join(f" {name:>9}" for name in columns))
    rows: dict[str, dict[str, float]] = {}
    for path, measurements in results.items():
        row = {
            "wall": median([m.wall_s for m in measurements]),
            "request": median([m.execution_s for m in measurements]),
            "to encode": median(
                [median([v.until(ENCODE_STEP) for v in m.batch]) for m in measurements]
            ),
            "clip": median([m.single.total_s for m in measurements]),
            "clip req": median([m.single.ready - m.single.run.created for m in measurements]),
            "work": median([m.single.run.work_s() for m in measurements]),
        }
        row["ratio"] = row["clip"] / row["work"]
        row["ratio req"] = row["clip req"] / row["work"]
        rows[path] = row
        print(f"{path:<11}" + "".join(f" {row[name]:>9.2f}" for name in columns))
    print()
    distributed, local = rows["pool"], rows["in-process"]
    print(f"ratio pool/in-process, batch wall = {distributed['wall'] / local['wall']:.2f}")
    print(
        "ratio pool/in-process, batch from the runs' request = "
        f"{distributed['request'] / local['request']:.2f}  (goal <= 1.15)"
    )
    for path, row in rows.items():
        print(
            f"{path}: lone clip ready / steps' own work = {row['ratio']:.2f} from the upload's "
            f"completion, {row['ratio req']:.2f} from the run's request  (goal <= 2)"
        )


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=4, help="videos uploaded at once")
    parser.add_argument("--workers", type=int, default=2, help="workers of the pool")
    parser.add_argument("--concurrency", type=int, default=1, help="steps each worker runs at once")
    parser.add_argument("--runs", type=int, default=1, help="runs of each path; medians shown")
    parser.add_argument("--keep", metavar="DIR", help="keep the hosts' directories and logs")
    parser.add_argument(
        "--no-hand-off",
        dest="hand_off",
        action="store_false",
        help="leave completed uploads to the upload sensor, with no webserver to hand them to",
    )
    args = parser.parse_args()
    if min(args.videos, args.workers, args.concurrency, args.runs) < 1:
        parser.error("--videos, --workers, --concurrency and --runs must be at least 1")
    return args


def _loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"


if __name__ == "__main__":
    main()
