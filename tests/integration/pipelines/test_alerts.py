"""Alerts on a real Dagster instance, catalog and SMTP server: a failed run is mailed to the ops
address (and posted to a Slack webhook) with its job, run id, failed step and error; videos
waiting in `processing` too long are mailed once; the daily datasets and the promoted model
have freshness checks with their thresholds, which a sensor runs."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from uuid import UUID

import psycopg
import pytest
from dagster import (
    AssetCheckKey,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    Definitions,
    MetadataValue,
    RunRequest,
    SensorDefinition,
    build_sensor_context,
    define_asset_job,
    job,
    op,
)
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster._time import get_current_timestamp
from pydantic import SecretStr

from assets.resources import CatalogResource
from pipelines.alerts import (
    DAILY_DATASETS,
    DATASET_DUE_AFTER,
    FRESHNESS_CHECKS,
    MODEL_DUE_AFTER,
    run_failure_alert,
    stuck_video_alert,
    stuck_videos,
)
from pipelines.definitions import build_definitions
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus
from tests.fixtures.mail import Inbox, text

HOUR = timedelta(hours=1)


class SlackHook:
    """A local stand-in for a Slack incoming webhook: it keeps the JSON bodies posted to it."""

    def __init__(self) -> None:
        posts: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                posts.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.posts = posts
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/x"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def slack() -> Iterator[SlackHook]:
    hook = SlackHook()
    hook.thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


@pytest.fixture
def ops(dev_stack: Settings, catalog_dsn: str) -> Settings:
    """The dev stack on a fresh catalog, alerts to an address of this test's own."""
    return dev_stack.model_copy(
        update={
            "postgres_dsn": catalog_dsn,
            "ops_email": f"ops-{secrets.token_hex(4)}@example.com",
            "dagster_url": "http://dagster.example:3000",
        }
    )


def tick(
    sensor: SensorDefinition,
    instance: DagsterInstance,
    cursor: str | None = None,
    resources: dict[str, Any] | None = None,
    definitions: Definitions | None = None,
) -> SensorExecutionData:
    with build_sensor_context(
        instance=instance, cursor=cursor, resources=resources, definitions=definitions
    ) as context:
        return sensor.evaluate_tick(context)


def failing_run(instance: DagsterInstance) -> str:
    @op
    def encode_ladder() -> None:
        raise RuntimeError("ffmpeg exited with status 187")

    @job
    def nightly_encode() -> None:
        encode_ladder()

    result = nightly_encode.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return result.run_id


def test_a_failed_run_is_mailed_and_posted_with_its_step_and_error(
    ops: Settings, inbox: Inbox, slack: SlackHook
) -> None:
    settings = ops.model_copy(update={"slack_webhook_url": SecretStr(slack.url)})
    sensor = run_failure_alert(settings)
    with DagsterInstance.ephemeral() as instance:
        # The first tick marks where the sensor starts, as the daemon's does.
        started = tick(sensor, instance)
        run_id = failing_run(instance)

        reacted = tick(sensor, instance, started.cursor)

    assert [r.dagster_run.run_id for r in reacted.dagster_run_reactions or [] if r.dagster_run]
    assert all(r.error is None for r in reacted.dagster_run_reactions or [])
    assert settings.ops_email is not None
    [message] = inbox.wait_for(settings.ops_email)
    assert message["Subject"] == f"Run failed: nightly_encode {run_id}"
    body = text(message)
    assert f"Run {run_id} of job nightly_encode failed." in body
    assert "Step encode_ladder failed:" in body
    assert "RuntimeError: ffmpeg exited with status 187" in body
    assert f"http://dagster.example:3000/runs/{run_id}" in body
    [post] = slack.posts
    assert post["text"].startswith(f"*Run failed: nightly_encode {run_id}*")
    assert "ffmpeg exited with status 187" in post["text"]


def test_without_an_ops_address_a_failed_run_is_only_logged(ops: Settings, inbox: Inbox) -> None:
    sensor = run_failure_alert(ops.model_copy(update={"ops_email": None}))
    with DagsterInstance.ephemeral() as instance:
        started = tick(sensor, instance)
        failing_run(instance)

        reacted = tick(sensor, instance, started.cursor)

    reactions = reacted.dagster_run_reactions or []
    assert len(reactions) == 1 and reactions[0].error is None
    assert inbox.messages[inbox.start :] == []


def processing_video(catalog: Catalog, title: str) -> UUID:
    owner = catalog.create_user(f"{secrets.token_hex(4)}@example.com", "not-a-hash")
    video = catalog.create_video(owner.id, title)
    upload = catalog.create_upload(
        video.id, object_key=f"uploads/{video.id}/source", size_bytes=1, content_type="video/mp4"
    )
    catalog.record_received(upload.id, 1)
    catalog.complete_upload(upload.id)
    catalog.set_encoding_status(video.id, EncodingStatus.PROCESSING)
    return video.id


def test_a_video_processing_longer_than_the_threshold_is_stuck(catalog: Catalog) -> None:
    video_id = processing_video(catalog, "a long encode")
    failed = processing_video(catalog, "rejected")
    catalog.set_encoding_status(failed, EncodingStatus.FAILED, "not a video")
    now = catalog.database_now()

    assert [v.id for v in stuck_videos(catalog, now + 2 * HOUR, HOUR)] == [video_id]
    assert stuck_videos(catalog, now + HOUR / 2, HOUR) == []


def test_stuck_videos_are_mailed_once_while_they_wait(
    ops: Settings, catalog: Catalog, catalog_dsn: str, inbox: Inbox
) -> None:
    waiting = processing_video(catalog, "Stuck encode")
    processing_video(catalog, "Fresh upload")
    with psycopg.connect(catalog_dsn) as conn:
        conn.execute(
            "UPDATE uploads SET completed_at = now() - interval '2 hours' WHERE video_id = %s",
            (waiting,),
        )
    sensor = stuck_video_alert(ops.model_copy(update={"processing_alert_after_s": 3600}))
    resources = {"catalog": CatalogResource(dsn=catalog_dsn)}

    with DagsterInstance.ephemeral() as instance:
        first = tick(sensor, instance, resources=resources)
        second = tick(sensor, instance, first.cursor, resources)

    assert ops.ops_email is not None
    [message] = inbox.wait_for(ops.ops_email)
    assert message["Subject"] == "1 video(s) processing for more than 1 h"
    body = text(message)
    assert f"Stuck encode ({waiting}): waiting 2.0 h" in body
    assert "Fresh upload" not in body
    assert first.cursor == str(waiting)
    assert second.skip_message == "1 video(s) stuck, none new"
    assert len(inbox.to(ops.ops_email)) == 1


def freshness_params(defs: Definitions) -> dict[str, dict[str, Any]]:
    """The freshness parameters of each asset's freshness check."""
    params = {}
    for checks in defs.asset_checks or []:
        for spec in checks.check_specs:  # type: ignore[union-attr]
            if spec.name == "freshness_check":
                value = spec.metadata["dagster/freshness_params"]
                params[spec.asset_key.to_user_string()] = value.value
    return params


def test_the_datasets_and_the_model_have_freshness_checks_with_their_thresholds() -> None:
    defs = build_definitions(Settings())

    params = freshness_params(defs)

    daily = {
        "timezone": "UTC",
        "lower_bound_delta_seconds": 36 * 3600.0,
        "deadline_cron": "0 12 * * *",
    }
    assert params == {
        **{key.to_user_string(): daily for key in DAILY_DATASETS},
        "promoted_model": {"timezone": "UTC", "lower_bound_delta_seconds": 8 * 24 * 3600.0},
    }
    assert DATASET_DUE_AFTER == timedelta(hours=36) and MODEL_DUE_AFTER == timedelta(days=8)


def evaluate_freshness(instance: DagsterInstance) -> dict[str, bool]:
    """Run every freshness check once; whether each asset passed."""
    checks = define_asset_job("freshness", selection=AssetSelection.checks(*FRESHNESS_CHECKS))
    defs = Definitions(asset_checks=FRESHNESS_CHECKS, jobs=[checks])
    result = defs.resolve_job_def("freshness").execute_in_process(instance=instance)
    return {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}


def updated(instance: DagsterInstance, key: str, ago: timedelta) -> None:
    """Record an update of `key` made `ago` before now."""
    at = get_current_timestamp() - ago.total_seconds()
    instance.report_runless_asset_event(
        AssetMaterialization(
            key, metadata={"dagster/last_updated_timestamp": MetadataValue.timestamp(at)}
        )
    )


def test_freshness_checks_fail_past_their_thresholds_and_pass_within() -> None:
    trending, engagement, interactions = (
        "trending_videos",
        "daily_video_engagement",
        "user_video_interactions",
    )
    with DagsterInstance.ephemeral() as instance:
        assert set(evaluate_freshness(instance).values()) == {False}

        # The latest deadline lies within the last day: 35 h ago is after the day due ended,
        # 61 h ago before it.
        updated(instance, engagement, 35 * HOUR)
        updated(instance, interactions, 61 * HOUR)
        updated(instance, "promoted_model", timedelta(days=7))
        updated(instance, trending, timedelta(days=9))

        assert evaluate_freshness(instance) == {
            engagement: True,
            interactions: False,
            "promoted_model": True,
            trending: False,
        }
        updated(instance, "promoted_model", timedelta(days=9))
        assert evaluate_freshness(instance)["promoted_model"] is False


def test_the_freshness_sensor_runs_every_check_never_run() -> None:
    defs = build_definitions(Settings())
    sensor = defs.resolve_sensor_def("freshness_checks_sensor")
    with DagsterInstance.ephemeral() as instance:
        data = tick(sensor, instance, definitions=defs)

    [request] = data.run_requests or []
    assert isinstance(request, RunRequest)
    assert set(request.asset_check_keys or []) == {
        AssetCheckKey(key, "freshness_check")
        for key in [*DAILY_DATASETS, defs.resolve_assets_def("promoted_model").key]
    }
