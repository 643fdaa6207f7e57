"""A completed upload handed to the Dagster webserver at once: the run of the upload is queued
with its tags and the upload sensor asks for nothing more; without a webserver that answers,
completing still succeeds and the sensor starts the run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, build_sensor_context
from fastapi.testclient import TestClient
from portpicker import pick_unused_port

from api.main import create_app
from api.media_runs import MediaRuns
from media.samples import make_clip
from pipelines.resources import resources_for
from pipelines.sensors import upload_sensor
from reelflow import media_runs
from reelflow.settings import Settings
from storage.catalog import Catalog, Role, UploadStatus
from tests.fixtures.api import Account
from tests.fixtures.dagster_ui import DagsterUI

INITIATE = "/api/v1/videos/upload/initiate"


def upload(client: TestClient, creator: Account, source: Path) -> tuple[UUID, UUID]:
    """Upload `source` through the API in one chunk and complete it: (video id, upload id)."""
    data = source.read_bytes()
    body = {"title": "Handed over", "size_bytes": len(data), "content_type": "video/mp4"}
    ticket = client.post(INITIATE, json=body, headers=creator.headers).json()
    parts = urlsplit(ticket["upload_url"])
    sent = client.put(
        f"{parts.path}?{parts.query}",
        content=data,
        headers={"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    assert sent.status_code == 200, sent.text
    video_id = ticket["video_id"]
    completed = client.post(f"/api/v1/videos/{video_id}/upload/complete", headers=creator.headers)
    assert completed.status_code == 202, completed.text
    return UUID(video_id), UUID(ticket["upload_id"])


def sense(instance: DagsterInstance, settings: Settings) -> object:
    resources = resources_for(settings)
    context_resources = {key: resources[key] for key in ("catalog", "object_store")}
    with build_sensor_context(instance=instance, resources=context_resources) as context:
        return upload_sensor(context)


def test_a_completed_upload_is_queued_on_the_webserver_at_once(
    dagster_ui: DagsterUI,
    api_settings: Settings,
    catalog: Catalog,
    make_account: Callable[..., Account],
    tmp_path: Path,
) -> None:
    assert api_settings.objects_dir == dagster_ui.objects_dir
    settings = api_settings.model_copy(update={"dagster_url": dagster_ui.url})
    source = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0)
    with TestClient(create_app(settings)) as client:
        video_id, upload_id = upload(client, make_account(Role.CREATOR), source)

    with DagsterInstance.from_config(dagster_ui.env["DAGSTER_HOME"]) as instance:
        [run] = instance.get_runs(RunsFilter(tags={media_runs.UPLOAD_TAG: str(upload_id)}))
        # No daemon runs here: the run waits in the queue, where the daemon would take it.
        assert run.status == DagsterRunStatus.QUEUED
        assert run.job_name == media_runs.JOB
        assert run.tags.items() >= media_runs.run_tags(video_id, upload_id).items()
        assert str(video_id) in instance.get_dynamic_partitions(media_runs.PARTITIONS)
        assert catalog.latest_completed_upload(video_id).status == UploadStatus.COMPLETED
        # The sensor sees the upload taken care of.
        skipped = sense(instance, settings)
        assert getattr(skipped, "skip_message", None) == "no completed upload awaits a run"


def test_without_a_webserver_the_upload_waits_for_the_sensor(
    api_settings: Settings,
    catalog: Catalog,
    make_account: Callable[..., Account],
    tmp_path: Path,
) -> None:
    nowhere = f"http://127.0.0.1:{pick_unused_port()}"
    settings = api_settings.model_copy(update={"dagster_url": nowhere})
    source = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0)
    with TestClient(create_app(settings)) as client:
        video_id, upload_id = upload(client, make_account(Role.CREATOR), source)

    assert MediaRuns(nowhere).start(video_id, upload_id) is None
    assert MediaRuns(None).start(video_id, upload_id) is None
    with DagsterInstance.ephemeral() as instance:
        sensed = sense(instance, settings)
        [request] = getattr(sensed, "run_requests", [])
        assert request.partition_key == str(video_id)
        assert request.tags == media_runs.run_tags(video_id, upload_id)
