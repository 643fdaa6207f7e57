"""`reelflow pipeline-metrics` on the dev stack: the catalog's videos by state, the wait of the
oldest processing, the media queues of RabbitMQ, Dagster's runs and materializations and the
promoted model, read at each scrape; a source that is down leaves only its own figures out."""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import psycopg
import pytest
from dagster import AssetMaterialization, DagsterInstance, job, op
from kombu import Connection, Queue
from portpicker import pick_unused_port
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from assets.engagement import ENGAGEMENT_KEY, INTERACTIONS_KEY
from assets.queues import HEAVY, LIGHT
from devstack import pool
from devstack.network import port_open
from devstack.processes import Server
from devstack.rabbitmq import RabbitMQ
from ml.serving import MODEL_PREFIX
from pipelines.metrics import PipelineCollector, day_start
from reelflow import connect
from reelflow.settings import PROJECT_ROOT, Settings
from storage.catalog import Catalog, EncodingStatus, User
from storage.objects import ObjectStore, new_version
from tests.fixtures.catalog import renditions

START_TIMEOUT_S = 60.0
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Stack:
    settings: Settings
    catalog: Catalog
    instance: DagsterInstance
    dagster_home: Path
    store: ObjectStore
    owner: User


@pytest.fixture
def stack(
    dev_stack: Settings, catalog: Catalog, catalog_dsn: str, tmp_path: Path
) -> Iterator[Stack]:
    """A fresh catalog, a broker virtual host of its own, a local object store and a Dagster
    instance on disk that the exporter process opens too."""
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    with (
        pool.broker_vhost(RabbitMQ(dev_stack)) as broker_url,
        DagsterInstance.from_config(str(home)) as instance,
    ):
        settings = dev_stack.model_copy(
            update={
                "postgres_dsn": catalog_dsn,
                "object_store": "local",
                "object_store_dir": tmp_path / "objects",
                "broker_url": SecretStr(broker_url),
            }
        )
        owner = catalog.create_user("creator@example.com", "not-a-hash")
        yield Stack(settings, catalog, instance, home, connect.object_store(settings), owner)


def uploaded(stack: Stack, title: str) -> UUID:
    """A video whose upload completed."""
    video = stack.catalog.create_video(stack.owner.id, title)
    upload = stack.catalog.create_upload(
        video.id, object_key=f"uploads/{video.id}/source", size_bytes=1, content_type="video/mp4"
    )
    stack.catalog.record_received(upload.id, 1)
    stack.catalog.complete_upload(upload.id)
    return video.id


def processing(stack: Stack, title: str) -> UUID:
    video_id = uploaded(stack, title)
    stack.catalog.set_encoding_status(video_id, EncodingStatus.PROCESSING)
    return video_id


def published(stack: Stack, title: str) -> UUID:
    video_id = processing(stack, title)
    stack.catalog.publish_video(
        video_id, "v1", renditions("v1"), "https://cdn.example/poster.jpg", 5.0
    )
    return video_id


def upload_completed_before(stack: Stack, video_id: UUID, seconds: float, *, of: str) -> None:
    """Move the completion of the video's upload to `seconds` before `of` (`now()`, or its
    publication)."""
    with psycopg.connect(stack.settings.postgres_dsn) as conn:
        conn.execute(
            f"UPDATE uploads AS u SET completed_at = {of} - make_interval(secs => %s)"
            " FROM videos AS v WHERE v.id = u.video_id AND u.video_id = %s",
            (seconds, video_id),
        )


def library(stack: Stack) -> None:
    """Videos in every state: 1 pending, 1 uploading, 2 processing, 1 ready, 1 failed; the
    oldest processing one has waited an hour."""
    stack.catalog.create_video(stack.owner.id, "pending")
    video = stack.catalog.create_video(stack.owner.id, "uploading")
    stack.catalog.create_upload(
        video.id, object_key=f"uploads/{video.id}/source", size_bytes=2, content_type="video/mp4"
    )
    upload_completed_before(stack, processing(stack, "waiting"), 3600, of="now()")
    processing(stack, "just uploaded")
    published(stack, "ready")
    failed = uploaded(stack, "failed")
    stack.catalog.set_encoding_status(failed, EncodingStatus.FAILED, "not a video")


def publish_steps(broker_url: str, queue: str, count: int) -> None:
    """`count` messages in `queue`, declared as the workers declare it; returns once the broker
    has them."""
    with Connection(broker_url, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        for n in range(count):
            producer.publish(
                {"step": n}, routing_key=queue, declare=[Queue(queue, routing_key=queue)]
            )


def failed_run(instance: DagsterInstance) -> str:
    @op
    def broken() -> None:
        raise RuntimeError("the encoder crashed")

    @job
    def nightly() -> None:
        broken()

    result = nightly.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return result.run_id


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@dataclass
class Exporter:
    """`reelflow pipeline-metrics` processes on the stack's Dagster instance."""

    dagster_home: Path
    logs: Path
    started: list[Server] = field(default_factory=list)

    def scrape(self, settings: Settings) -> Samples:
        """Start an exporter with `settings` and scrape it once."""
        port = pick_unused_port()
        command = [str(Path(sys.executable).with_name("reelflow")), "pipeline-metrics"]
        server = Server.start(
            "pipeline-metrics",
            [*command, "--port", str(port)],
            log=self.logs / f"metrics-{port}.log",
            cwd=PROJECT_ROOT,
            env=settings.as_environment() | {"DAGSTER_HOME": str(self.dagster_home)},
        )
        self.started.append(server)
        server.wait_ready(lambda: port_open(port), START_TIMEOUT_S)
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        return samples(response.text)


@pytest.fixture
def exporter(stack: Stack, tmp_path: Path) -> Iterator[Exporter]:
    exporter = Exporter(stack.dagster_home, tmp_path)
    try:
        yield exporter
    finally:
        for server in exporter.started:
            server.stop()


def test_a_scrape_reads_the_catalog_the_broker_and_dagster(
    stack: Stack, exporter: Exporter
) -> None:
    library(stack)
    broker_url = stack.settings.broker_url.get_secret_value()
    publish_steps(broker_url, HEAVY, 2)
    failed_run(stack.instance)

    scraped = exporter.scrape(stack.settings)

    assert {
        status: scraped[("reelflow_videos", (("status", status),))]
        for status in ("pending", "uploading", "processing", "ready", "failed")
    } == {"pending": 1, "uploading": 1, "processing": 2, "ready": 1, "failed": 1}
    waited = scraped[("reelflow_video_processing_oldest_seconds", ())]
    assert 3600 <= waited < 3600 + 600
    # The light queue is not declared until a worker or a step asks for it.
    assert scraped[("reelflow_media_queue_messages", (("queue", HEAVY),))] == 2
    assert scraped[("reelflow_media_queue_messages", (("queue", LIGHT),))] == 0
    assert scraped[("reelflow_dagster_runs_failed", ())] == 1
    assert {
        labels[0][1]: value
        for (name, labels), value in scraped.items()
        if name == "reelflow_pipeline_metrics_source_up"
    } == {"catalog": 1, "dagster": 1, "broker": 1, "object_store": 1}


def test_a_broker_that_is_down_leaves_only_the_queues_out(stack: Stack, exporter: Exporter) -> None:
    library(stack)
    nowhere = f"amqp://reelflow:wrong@127.0.0.1:{pick_unused_port()}//"

    scraped = exporter.scrape(stack.settings.model_copy(update={"broker_url": SecretStr(nowhere)}))

    assert scraped[("reelflow_pipeline_metrics_source_up", (("source", "broker"),))] == 0
    assert scraped[("reelflow_pipeline_metrics_source_up", (("source", "catalog"),))] == 1
    assert not [name for name, _ in scraped if name == "reelflow_media_queue_messages"]
    assert scraped[("reelflow_videos", (("status", "processing"),))] == 2
    assert scraped[("reelflow_dagster_runs_failed", ())] == 0


def test_the_figures_of_dagster_and_the_model_at_a_given_moment(stack: Stack) -> None:
    for seconds, title in ((600, "quick"), (1200, "slow")):
        upload_completed_before(stack, published(stack, title), seconds, of="v.published_at")
    for speed in (1.0, 4.0, 2.0):
        stack.instance.report_runless_asset_event(
            AssetMaterialization("renditions", metadata={"speed_x_realtime": speed})
        )
    for key, days in (
        (INTERACTIONS_KEY, ["2026-11-30", "2026-12-01"]),
        (ENGAGEMENT_KEY, ["2026-11-30", "2026-12-01"]),
        ("trending_videos", ["2026-11-29", "2026-11-30"]),
    ):
        for day in days:
            stack.instance.report_runless_asset_event(AssetMaterialization(key, partition=day))
    now = stack.catalog.database_now()
    version = new_version(now - timedelta(days=3))
    stack.store.put_bytes(f"{MODEL_PREFIX}/{version}/model.json", b"{}")
    stack.store.point(MODEL_PREFIX, version)

    scraped = collect(stack, now)

    assert scraped[("reelflow_upload_to_ready_seconds", (("quantile", "0.5"),))] == 900
    assert scraped[("reelflow_upload_to_ready_seconds", (("quantile", "0.95"),))] == (
        pytest.approx(1170)
    )
    assert scraped[("reelflow_encode_speed_realtime", ())] == 2.0
    # The latest day every dataset has: trending is a day behind.
    assert scraped[("reelflow_engagement_last_day_timestamp_seconds", ())] == day_start(
        "2026-11-30"
    )
    assert scraped[("reelflow_model_age_seconds", ())] == 3 * 24 * 3600
    assert scraped[("reelflow_model_info", (("version", version),))] == 1
    assert scraped[("reelflow_video_processing_oldest_seconds", ())] == 0


def test_nothing_to_measure_leaves_the_figures_without_values(stack: Stack) -> None:
    scraped = collect(stack, stack.catalog.database_now())

    names = {name for name, _ in scraped}
    assert not names & {
        "reelflow_upload_to_ready_seconds",
        "reelflow_encode_speed_realtime",
        "reelflow_engagement_last_day_timestamp_seconds",
        "reelflow_model_age_seconds",
        "reelflow_model_info",
    }
    assert scraped[("reelflow_dagster_runs_failed", ())] == 0


def test_a_broker_that_never_answers_is_down_once_the_deadline_passes(stack: Stack) -> None:
    library(stack)
    # A port that takes connections and never says a word, like a broker behind a black hole.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"amqp://reelflow:pw@127.0.0.1:{silent.getsockname()[1]}//"
        settings = stack.settings.model_copy(update={"broker_url": SecretStr(url)})

        scraped = collect(stack, stack.catalog.database_now(), settings=settings, deadline_s=1.0)

    assert scraped[("reelflow_pipeline_metrics_source_up", (("source", "broker"),))] == 0
    assert not [name for name, _ in scraped if name == "reelflow_media_queue_messages"]
    assert scraped[("reelflow_pipeline_metrics_source_up", (("source", "catalog"),))] == 1
    assert scraped[("reelflow_videos", (("status", "pending"),))] == 1


def collect(
    stack: Stack, now: datetime, *, settings: Settings | None = None, deadline_s: float = 10.0
) -> Samples:
    """One scrape of the collector in this process, at `now`."""
    registry = CollectorRegistry()
    collector = PipelineCollector(
        settings or stack.settings,
        stack.instance,
        catalog=stack.catalog,
        clock=lambda: now,
        deadline_s=deadline_s,
    )
    registry.register(collector)
    return samples(generate_latest(registry).decode())
