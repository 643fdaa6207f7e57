"""The pipeline's figures for Prometheus, computed at each scrape (`reelflow pipeline-metrics`).

Each figure comes from one source: the catalog (videos by state, the oldest still processing,
upload-to-ready times), the Dagster instance (encode speed, failed runs, the latest day of
datasets), the broker (media queue depths) and the object store (the promoted model). A source
that fails leaves its families out of that scrape, and `reelflow_pipeline_metrics_source_up`
says which: the other figures are still scraped.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, date, datetime, time, timedelta

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from assets.transcode import renditions
from ml.serving import MODEL_PREFIX
from pipelines.alerts import DAILY_DATASETS
from pipelines.executors import MEDIA_QUEUES
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog
from storage.objects import ObjectStore
from storage.objects.keys import VERSION_RE

log = logging.getLogger(__name__)

QUANTILES = (0.5, 0.95)
READY_WINDOW = timedelta(hours=24)
FAILED_RUNS_WINDOW = timedelta(hours=24)
# Encodes the speed is the median of: enough to shrug off one odd source, recent enough to
# follow a change of workers or preset.
ENCODE_SAMPLES = 20
SPEED_KEY = "speed_x_realtime"
# How long a connection to the catalog or the broker may take.
SOURCE_TIMEOUT_S = 3.0
# What a scrape waits for its sources at most (Prometheus gives up on a scrape after 10 s by
# default); those still reading count as down.
SCRAPE_DEADLINE_S = 6.0


def quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile of `values`, interpolated linearly between the closest ranks (as
    numpy's default); NaN without values."""
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile lies in [0, 1], not {q}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def version_time(version: str) -> datetime:
    """When a published version was made, from its name (`storage.objects.new_version`)."""
    if not VERSION_RE.fullmatch(version):
        raise ValueError(f"not a version name: {version!r}")
    return datetime.strptime(version[:22], "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)


def day_start(partition_key: str) -> float:
    """The Unix time at which the UTC day of a daily partition starts."""
    return datetime.combine(date.fromisoformat(partition_key), time(), UTC).timestamp()


def queue_depths(broker_url: str, queues: Iterable[str]) -> dict[str, int]:
    """Messages ready in each queue of the broker; 0 for a queue not declared yet."""
    from kombu import Connection

    depths = {}
    with Connection(broker_url, connect_timeout=SOURCE_TIMEOUT_S) as connection:
        connection.connect()
        for queue in queues:
            # A passive declare of a missing queue closes its channel: one channel each.
            channel = connection.channel()
            try:
                _, messages, _ = channel.queue_declare(queue=queue, passive=True)
                depths[queue] = int(messages)
            except connection.channel_errors:
                depths[queue] = 0
            finally:
                try:
                    channel.close()
                except connection.channel_errors:
                    pass
    return depths


class PipelineCollector:
    """The collector of the pipeline's figures: every value read when Prometheus scrapes."""

    def __init__(
        self,
        settings: Settings,
        instance: DagsterInstance,
        *,
        catalog: Catalog | None = None,
        store: ObjectStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        deadline_s: float = SCRAPE_DEADLINE_S,
    ) -> None:
        self.settings = settings
        self.instance = instance
        self.catalog = catalog or Catalog(
            settings.postgres_dsn, min_size=0, max_size=2, timeout_s=SOURCE_TIMEOUT_S
        )
        self.store = store or connect.object_store(settings)
        self.clock = clock
        self.deadline_s = deadline_s

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        up = GaugeMetricFamily(
            "reelflow_pipeline_metrics_source_up",
            "Whether the source of some figures answered this scrape (1) or not (0).",
            labels=["source"],
        )
        sources: dict[str, Callable[[datetime], list[Metric]]] = {
            "catalog": self._catalog_metrics,
            "dagster": self._dagster_metrics,
            "broker": self._broker_metrics,
            "object_store": self._model_metrics,
        }
        # Side by side, and no longer than the deadline: a source that hangs (a firewall that
        # drops packets, S3 retrying) must not make Prometheus give up on the whole scrape.
        pool = ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="pipeline-metrics")
        try:
            reads = {source: pool.submit(read, now) for source, read in sources.items()}
            wait(reads.values(), timeout=self.deadline_s)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for source, future in reads.items():
            if not future.done():
                log.error(
                    "pipeline metrics: %s did not answer within %s s", source, self.deadline_s
                )
            elif (error := future.exception()) is not None:
                log.error("pipeline metrics: %s failed", source, exc_info=error)
            else:
                up.add_metric([source], 1)
                yield from future.result()
                continue
            up.add_metric([source], 0)
        yield up

    def _catalog_metrics(self, now: datetime) -> list[Metric]:
        videos = GaugeMetricFamily(
            "reelflow_videos", "Videos in each encoding state.", labels=["status"]
        )
        for status, count in self.catalog.count_videos_by_status().items():
            videos.add_metric([status.value], count)
        oldest = self.catalog.list_processing_videos(limit=1)
        waiting = GaugeMetricFamily(
            "reelflow_video_processing_oldest_seconds",
            "How long the video processing longest has waited since its upload completed "
            "(0 when none is processing).",
            value=max((now - oldest[0].since).total_seconds(), 0.0) if oldest else 0.0,
        )
        ready = GaugeMetricFamily(
            "reelflow_upload_to_ready_seconds",
            "Seconds from a completed upload to the video's first publication, over the "
            "videos first published in the last 24 h.",
            labels=["quantile"],
        )
        seconds = self.catalog.upload_to_ready_seconds(now - READY_WINDOW)
        if seconds:
            for q in QUANTILES:
                ready.add_metric([str(q)], quantile(seconds, q))
        return [videos, waiting, ready]

    def _dagster_metrics(self, now: datetime) -> list[Metric]:
        speed = GaugeMetricFamily(
            "reelflow_encode_speed_realtime",
            f"Media seconds encoded per wall-clock second: the median of the last "
            f"{ENCODE_SAMPLES} encodes of the renditions asset.",
        )
        records = self.instance.fetch_materializations(renditions.key, limit=ENCODE_SAMPLES)
        speeds = [
            float(materialization.metadata[SPEED_KEY].value)  # type: ignore[arg-type]
            for record in records.records
            if (materialization := record.asset_materialization) is not None
            and SPEED_KEY in materialization.metadata
        ]
        if speeds:
            speed.add_metric([], statistics.median(speeds))
        failed = GaugeMetricFamily(
            "reelflow_dagster_runs_failed",
            "Dagster runs that failed in the last 24 h.",
            value=self.instance.get_runs_count(
                RunsFilter(
                    statuses=[DagsterRunStatus.FAILURE], updated_after=now - FAILED_RUNS_WINDOW
                )
            ),
        )
        last_day = GaugeMetricFamily(
            "reelflow_engagement_last_day_timestamp_seconds",
            "Start (UTC) of the latest day that every daily viewing dataset has materialized.",
        )
        latest = [self._latest_partition(key) for key in DAILY_DATASETS]
        if all(latest):
            last_day.add_metric([], min(day_start(day) for day in latest if day))
        return [speed, failed, last_day]

    def _latest_partition(self, key: AssetKey) -> str | None:
        # ISO dates sort as the days do.
        return max(self.instance.get_materialized_partitions(key), default=None)

    def _broker_metrics(self, now: datetime) -> list[Metric]:
        depths = GaugeMetricFamily(
            "reelflow_media_queue_messages",
            "Steps waiting in each media queue of the broker.",
            labels=["queue"],
        )
        url = self.settings.broker_url.get_secret_value()
        for queue, messages in queue_depths(url, MEDIA_QUEUES).items():
            depths.add_metric([queue], messages)
        return [depths]

    def _model_metrics(self, now: datetime) -> list[Metric]:
        age = GaugeMetricFamily(
            "reelflow_model_age_seconds",
            "Age of the promoted recommendation model, from when it was trained.",
        )
        info = GaugeMetricFamily(
            "reelflow_model_info",
            "The promoted recommendation model's version (the value is 1).",
            labels=["version"],
        )
        version = self.store.current_version(MODEL_PREFIX)
        if version is not None:
            # Its version is named when it is trained: the age of what the feed serves, however
            # recently it was promoted.
            age.add_metric([], (now - version_time(version)).total_seconds())
            info.add_metric([version], 1)
        return [age, info]


def serve(settings: Settings, instance: DagsterInstance, host: str, port: int) -> None:
    """Serve the pipeline's figures on http://host:port/metrics until interrupted."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(settings, instance))
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("pipeline metrics on http://%s:%d/metrics", host, port)
    try:
        threading.Event().wait()
    finally:
        server.shutdown()
        thread.join()
