"""The media lifecycle job runs every asset of the media stage, and nothing else; runs of one
video are tagged with it, and the run queue runs them one at a time."""

from __future__ import annotations

import pytest
import yaml
from dagster import DagsterInstance, RunRequest

from assets.ingest import videos
from pipelines.definitions import defs
from pipelines.jobs import VIDEO_TAG
from reelflow.settings import PROJECT_ROOT


def test_the_media_lifecycle_runs_every_media_stage() -> None:
    job_def = defs.resolve_job_def("media_lifecycle")
    keys = {key.to_user_string() for key in job_def.asset_layer.executable_asset_keys}
    assert keys == {
        "source_video",
        "renditions",
        "packaged_streams",
        "protected_streams",
        "thumbnails",
        "captions",
        "published_video",
    }
    assert job_def.partitions_def is not None and job_def.partitions_def.name == "videos"


def test_a_caption_update_publishes_again_without_any_media_step() -> None:
    job_def = defs.resolve_job_def("caption_update")
    keys = {key.to_user_string() for key in job_def.asset_layer.executable_asset_keys}
    assert keys == {"captioned_version"}
    assert job_def.partitions_def is not None and job_def.partitions_def.name == "videos"
    # Never beside a media run of the same video: both publish its versions.
    assert job_def.get_tags_for_partition_key(VIDEO, selected_asset_keys=None)[VIDEO_TAG] == VIDEO


VIDEO = "6f1c2a9e-3b4d-4e5f-8a7b-0c1d2e3f4a5b"


def test_a_videos_runs_carry_its_id_however_they_are_requested() -> None:
    job_def = defs.resolve_job_def("media_lifecycle")
    assert job_def.get_tags_for_partition_key(VIDEO, selected_asset_keys=None)[VIDEO_TAG] == VIDEO
    # The upload sensor's requests, as the daemon resolves them.
    request = RunRequest(
        partition_key=VIDEO, run_key=f"{VIDEO}:upload"
    ).with_resolved_tags_and_config(
        target_definition=job_def,
        dynamic_partitions_requests=[videos.build_add_request([VIDEO])],
        dynamic_partitions_store=DagsterInstance.ephemeral(),
    )
    assert request.tags[VIDEO_TAG] == VIDEO


@pytest.mark.parametrize("instance_yaml", ["dagster.yaml", "deploy/dagster.yaml"])
def test_the_run_queue_runs_one_run_of_a_video_at_a_time(instance_yaml: str) -> None:
    config = yaml.safe_load((PROJECT_ROOT / instance_yaml).read_text())
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": VIDEO_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
