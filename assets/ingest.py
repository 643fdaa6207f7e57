"""Ingest stage: one partition per video; the uploaded source, probed and validated."""

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from dagster import (
    AssetExecutionContext,
    Backoff,
    DynamicPartitionsDefinition,
    Failure,
    MetadataValue,
    PreviewWarning,
    RetryPolicy,
    asset,
    asset_check,
)

from assets.resources import CatalogResource, MediaResource, ObjectStoreResource
from media.probe import MediaRejected, SourceInfo, probe
from storage.catalog import EncodingStatus, Visibility

GROUP = "media"

VIDEO_PARTITIONS = "videos"
videos = DynamicPartitionsDefinition(name=VIDEO_PARTITIONS)


def video_check(**kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """`asset_check` on the run's video partition.

    Without `partitions_def` a check loads its asset for every registered video, and fails as
    soon as there are two. Partitioned checks are a Dagster preview; its warning is silenced
    here, for these checks only.
    """

    def decorate(fn: Callable[..., Any]) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PreviewWarning)
            return asset_check(partitions_def=videos, **kwargs)(fn)

    return decorate


# Object store, database and network hiccups are worth a retry; a rejected source is not.
TRANSIENT_RETRY = RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL)


@dataclass(frozen=True)
class SourceVideo:
    """A validated upload on local disk, with what the later stages need to know of it."""

    video_id: str
    upload_id: str
    path: Path
    info: SourceInfo
    visibility: Visibility


def mark_failed(catalog: CatalogResource, video_id: UUID, reason: str) -> None:
    """Record a rejection, unless an earlier version is published and still plays."""
    video = catalog.catalog.get_video(video_id)
    if video.published_version is None:
        catalog.catalog.set_encoding_status(video_id, EncodingStatus.FAILED, reason)


@asset(group_name=GROUP, partitions_def=videos, retry_policy=TRANSIENT_RETRY, kinds={"ffmpeg"})
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

    source_dir = media.video_dir(context.partition_key) / "source"
    source_dir.mkdir(parents=True, exist_ok=True)
    path = source_dir / "source"
    object_store.store().download(upload.object_key, path)
    try:
        info = probe(path, media.limits())
    except MediaRejected as rejected:
        reason = str(rejected)
        mark_failed(catalog, video_id, reason)
        raise Failure(
            description=f"source rejected: {reason}",
            metadata={"reason": reason, "upload_id": str(upload.id)},
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
        }
    )
    return SourceVideo(
        video_id=context.partition_key,
        upload_id=str(upload.id),
        path=path,
        info=info,
        visibility=video.visibility,
    )
