"""Ingest stage: one partition per video; the uploaded source, probed and validated.

Every media step works in a directory of its own (`MediaResource.step_dir`) and hands the next
steps object keys under its run's work prefix (`reelflow.layout.work_prefix`), never files, so
each step can run on another host.
"""

from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from dagster import (
    AssetExecutionContext,
    Backoff,
    DynamicPartitionsDefinition,
    Failure,
    MetadataValue,
    RetryPolicy,
    asset,
)

from assets.queues import LIGHT_STEP
from assets.resources import CatalogResource, MediaResource, ObjectStoreResource
from media.probe import MediaRejected, SourceInfo, probe
from reelflow import layout, media_runs
from storage.catalog import EncodingStatus, Visibility
from storage.objects import ObjectStore

GROUP = "media"

VIDEO_PARTITIONS = media_runs.PARTITIONS
videos = DynamicPartitionsDefinition(name=VIDEO_PARTITIONS)

# Object store, database and network hiccups are worth a retry; a rejected source is not.
TRANSIENT_RETRY = RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL)

SOURCE_NAME = "source"


def output_prefix(context: AssetExecutionContext) -> str:
    """Where this step of the run keeps what it makes: `work/<video>/<run>/<asset>/`."""
    return layout.work_prefix(context.partition_key, context.run.run_id, context.asset_key.path[-1])


def store_outputs(store: ObjectStore, prefix: str, directory: Path) -> list[str]:
    """Upload a step's `directory` under its `prefix`, replacing what an earlier try left."""
    store.delete_prefix(prefix)
    return store.put_tree(prefix, directory)


@dataclass(frozen=True)
class SourceVideo:
    """A validated upload, kept under the run's work prefix, and what later stages need of it."""

    video_id: str
    upload_id: str
    key: str
    info: SourceInfo
    visibility: Visibility

    def fetch(self, store: ObjectStore, directory: Path) -> Path:
        """The source downloaded into `directory`."""
        path = directory / SOURCE_NAME
        store.download(self.key, path)
        return path


def mark_failed(catalog: CatalogResource, video_id: UUID, reason: str) -> None:
    """Record a rejection, unless an earlier version is published and still plays."""
    video = catalog.catalog.get_video(video_id)
    if video.published_version is None:
        catalog.catalog.set_encoding_status(video_id, EncodingStatus.FAILED, reason)


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    kinds={"ffmpeg"},
    op_tags=LIGHT_STEP,
)
def source_video(
    context: AssetExecutionContext,
    catalog: CatalogResource,
    object_store: ObjectStoreResource,
    media: MediaResource,
) -> SourceVideo:
    """The uploaded source of a video, probed and validated."""
    video_id = UUID(context.partition_key)
    video = catalog.catalog.get_video(video_id)
    upload = catalog.catalog.latest_completed_upload(video_id)
    if video.published_version is None:
        catalog.catalog.set_encoding_status(video_id, EncodingStatus.PROCESSING)

    store = object_store.store()
    key = output_prefix(context) + SOURCE_NAME
    # A new upload of the video replaces its upload object: the run keeps the bytes it probes.
    store.copy(upload.object_key, key)
    with media.step_dir() as directory:
        path = directory / SOURCE_NAME
        store.download(key, path)
        try:
            info = probe(path, media.limits())
        except MediaRejected as rejected:
            store.delete(key)
            reason = str(rejected)
            # What the tool said names the step's directory: the run's log has it, the creator
            # the code and sentence.
            if rejected.detail:
                context.log.warning(f"probe of upload {upload.id}: {rejected.detail}")
            mark_failed(catalog, video_id, reason)
            raise Failure(
                description=f"source rejected: {reason}",
                metadata={"reason": reason, "upload_id": str(upload.id), "tool": rejected.detail},
                allow_retries=False,
            ) from rejected

    context.add_output_metadata(
        {
            "upload_id": str(upload.id),
            "duration_s": round(info.duration_s, 3),
            "resolution": f"{info.width}x{info.height}",
            "rotation": info.rotation,
            "fps": f"{float(info.fps):.3f}" + (" (VFR source)" if info.is_vfr else ""),
            "video_codec": info.video_codec,
            "audio": f"{info.audio_codec} {info.audio_channels} ch" if info.audio_codec else "none",
            "size": MetadataValue.int(info.size_bytes),
            "visibility": video.visibility.value,
            "key": key,
        }
    )
    return SourceVideo(
        video_id=context.partition_key,
        upload_id=str(upload.id),
        key=key,
        info=info,
        visibility=video.visibility,
    )
