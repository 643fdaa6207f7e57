"""How a video's media run is named: its job, its partitions and its tags.

The pipeline defines the job and its sensors with these names, and the API uses them to ask the
Dagster webserver for a run the moment an upload completes, without importing Dagster.
"""

from __future__ import annotations

from uuid import UUID

# workspace.yaml's code location, and the repository Dagster makes of its Definitions.
LOCATION = "reelflow"
REPOSITORY = "__repository__"
JOB = "media_lifecycle"
# A published video made again with its current captions, from its published streams.
CAPTIONS_JOB = "caption_update"
# One partition per video, its key the video id.
PARTITIONS = "videos"

PARTITION_TAG = "dagster/partition"
# Runs of one video carry its id: the run queue runs them one at a time (dagster.yaml), so the
# run that publishes may delete the video's whole work prefix.
VIDEO_TAG = "reelflow/video"
# The upload a run processes: whoever sees a run with it knows that upload is taken care of.
UPLOAD_TAG = "reelflow/upload"


def run_tags(video_id: UUID | str, upload_id: UUID | str) -> dict[str, str]:
    """The tags of the media run of one upload of a video."""
    return {
        PARTITION_TAG: str(video_id),
        VIDEO_TAG: str(video_id),
        UPLOAD_TAG: str(upload_id),
    }
