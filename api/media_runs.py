"""Completed uploads handed to the pipeline at once: a media run asked of the Dagster webserver.

The webserver's GraphQL API adds the video's partition and queues the run of the upload, tagged
as the upload sensor tags its runs (`reelflow.media_runs`); the sensor sees that tag and asks
for nothing more. When the webserver cannot be reached, or none is configured, the upload waits
for the sensor's next tick: a hand-off that fails costs time, never the upload.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any
from uuid import UUID

from reelflow import media_runs

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
# The partition was added now, or by an earlier upload of the same video.
ADDED = frozenset({"AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"})
REPOSITORY = {
    "repositoryLocationName": media_runs.LOCATION,
    "repositoryName": media_runs.REPOSITORY,
}
ADD_PARTITION = """
mutation AddPartition($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""


class HandOffError(Exception):
    """The webserver did not queue the run."""


class MediaRuns:
    """Queues the media run of a completed upload on the Dagster webserver at `url`."""

    def __init__(self, url: str | None, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/") if url else None
        self.timeout_s = timeout_s

    def start(self, video_id: UUID, upload_id: UUID) -> str | None:
        """Queue the run of the upload; its run id, or None when it was left to the sensor."""
        if self.url is None:
            return None
        try:
            return self._launch(video_id, upload_id)
        except (HandOffError, OSError, ValueError) as exc:
            log.warning("upload %s waits for the upload sensor: %s", upload_id, exc)
            return None

    def update_captions(self, video_id: UUID) -> str | None:
        """Queue the run that publishes the video again with its current captions; its run id,
        or None when no webserver is configured or it refused."""
        if self.url is None:
            return None
        tags = {media_runs.PARTITION_TAG: str(video_id), media_runs.VIDEO_TAG: str(video_id)}
        try:
            return self._launch_job(media_runs.CAPTIONS_JOB, tags)
        except (HandOffError, OSError, ValueError) as exc:
            log.warning("captions of video %s wait for its next media run: %s", video_id, exc)
            return None

    def _launch(self, video_id: UUID, upload_id: UUID) -> str:
        added = self._query(
            ADD_PARTITION, repo=REPOSITORY, name=media_runs.PARTITIONS, key=str(video_id)
        )["addDynamicPartition"]
        if added["__typename"] not in ADDED:
            raise HandOffError(f"the partition was refused: {added}")
        run_id = self._launch_job(media_runs.JOB, media_runs.run_tags(video_id, upload_id))
        log.info("upload %s of video %s handed to run %s", upload_id, video_id, run_id)
        return run_id

    def _launch_job(self, job: str, tags: dict[str, str]) -> str:
        params = {
            "selector": {**REPOSITORY, "jobName": job},
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        launched = self._query(LAUNCH_RUN, params=params)["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise HandOffError(f"the run was refused: {launched}")
        run_id: str = launched["run"]["runId"]
        return run_id

    def _query(self, text: str, **variables: Any) -> dict[str, Any]:
        assert self.url is not None
        return graphql(self.url, text, variables, self.timeout_s)


def graphql(
    url: str, text: str, variables: dict[str, Any] | None = None, timeout_s: float = TIMEOUT_S
) -> dict[str, Any]:
    """The `data` of a query to the Dagster webserver at `url`; HandOffError on GraphQL errors."""
    body = json.dumps({"query": text, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise HandOffError(f"GraphQL errors: {answer['errors']}")
    data: dict[str, Any] = answer["data"]
    return data
