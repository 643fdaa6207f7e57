"""The ingest stage: a completed upload becomes the video's partition and its source is probed
and validated; a source that is no video fails with a reason and waits for a new upload."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import SensorResult, SkipReason

from reelflow import layout
from storage.catalog import EncodingStatus, Visibility
from tests.fixtures.lifecycle import CLIP, Lifecycle, Platform


def test_the_upload_becomes_the_partition_and_its_source_is_probed(
    published_clip: Lifecycle,
) -> None:
    clip = published_clip
    sensed = clip.sensed
    assert isinstance(sensed, SensorResult)
    assert [r.partition_key for r in sensed.run_requests or []] == [str(clip.video_id)]
    assert clip.partitions == [str(clip.video_id)]
    run_key = (sensed.run_requests or [])[0].run_key
    assert run_key is not None and run_key.startswith(f"{clip.video_id}:")

    probed = clip.metadata("source_video")
    assert run_key == f"{clip.video_id}:{probed['upload_id']}"
    assert probed["resolution"] == f"{CLIP['width']}x{CLIP['height']}"
    assert probed["duration_s"] == pytest.approx(CLIP["duration_s"], abs=0.1)
    assert probed["fps"] == "30.000"
    assert probed["video_codec"] == "h264"
    assert probed["audio"] == "aac 2 ch"
    assert probed["size"] == clip.source.stat().st_size
    expected = Visibility.PREMIUM if clip.premium else Visibility.PUBLIC
    assert probed["visibility"] == expected.value


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty", b"", "empty_file"),
        ("text", b"this is not a video, only words\n" * 20, "not_media"),
        # ffprobe's complaint names the file it read, in the step's directory.
        ("truncated", "truncated_faststart.mp4", "corrupt"),
    ],
)
def test_bad_upload_fails_with_a_reason(
    platform: Platform,
    tmp_path: Path,
    bad_media: dict[str, Path],
    name: str,
    content: bytes | str,
    reason: str,
) -> None:
    source = tmp_path / f"{name}.mp4"
    source.write_bytes(content if isinstance(content, bytes) else bad_media[content].read_bytes())
    video_id = platform.upload(source, Visibility.PUBLIC)
    assert isinstance(platform.sense(), SensorResult)
    result = platform.run(video_id)
    assert not result.success
    video = platform.catalog.get_video(video_id)
    assert video.encoding_status == EncodingStatus.FAILED
    assert video.failure_reason is not None and video.failure_reason.startswith(reason)
    # The creator is told the code and a sentence, never where the server keeps files.
    assert "/" not in video.failure_reason
    assert platform.store.list(f"videos/{video_id}") == []
    assert platform.store.list(layout.video_work_prefix(video_id)) == []
    failure = result.failure_data_for_node("source_video")
    assert failure is not None and "source rejected" in str(failure.error)
    # A rejection is final: the same bytes are not tried again.
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    # A failed video awaits a new upload; the sensor does not start it again.
    assert isinstance(platform.sense(), SkipReason)
