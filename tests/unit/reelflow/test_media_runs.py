"""The tags of an upload's media run name its video, its partition and its upload."""

from __future__ import annotations

from uuid import uuid4

from reelflow.media_runs import PARTITION_TAG, UPLOAD_TAG, VIDEO_TAG, run_tags


def test_an_uploads_run_names_its_partition_video_and_upload() -> None:
    video_id, upload_id = uuid4(), uuid4()

    tags = run_tags(video_id, upload_id)

    assert tags[PARTITION_TAG] == tags[VIDEO_TAG] == str(video_id)
    assert tags[UPLOAD_TAG] == str(upload_id)
    assert run_tags(str(video_id), str(upload_id)) == tags
