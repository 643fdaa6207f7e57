"""The run key of an upload's media run names the upload, and only such a key gives one back."""

from __future__ import annotations

from uuid import uuid4

from pipelines.sensors import upload_of_run_key, upload_run_key


def test_the_run_key_of_an_upload_gives_the_upload_back() -> None:
    video_id, upload_id = str(uuid4()), uuid4()
    key = upload_run_key(video_id, str(upload_id))

    assert upload_of_run_key(key, video_id) == upload_id
    # Another video's key, a key of another sensor, a run no sensor started.
    assert upload_of_run_key(key, str(uuid4())) is None
    assert upload_of_run_key(f"stalled:{video_id}:{uuid4()}", video_id) is None
    assert upload_of_run_key(f"{video_id}:not-an-id", video_id) is None
    assert upload_of_run_key(None, video_id) is None
