"""The media lifecycle job runs every asset of the media stage, and nothing else."""

from __future__ import annotations

from pipelines.definitions import defs


def test_the_media_lifecycle_runs_every_media_stage() -> None:
    job_def = defs.resolve_job_def("media_lifecycle")
    keys = {key.to_user_string() for key in job_def.asset_layer.executable_asset_keys}
    assert keys == {
        "source_video",
        "renditions",
        "packaged_streams",
        "protected_streams",
        "thumbnails",
        "published_video",
    }
    assert job_def.partitions_def is not None and job_def.partitions_def.name == "videos"
