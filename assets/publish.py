"""Publishing stage: the package under a new version in the object store, then the switch."""

from collections.abc import Iterator
from uuid import UUID

from dagster import AssetCheckResult, AssetExecutionContext, MetadataValue, Output, asset

from assets.captions import CAPTION_CHECKS, KEEP_VERSIONS, CaptionFiles, publish_version
from assets.drm import ProtectedStreams
from assets.ingest import GROUP, TRANSIENT_RETRY, SourceVideo, videos
from assets.package import Package
from assets.queues import LIGHT_STEP
from assets.resources import CatalogResource, MediaResource, ObjectStoreResource
from assets.thumbnails import ThumbnailFiles
from assets.transcode import Renditions, blocking_checks, checked
from reelflow import layout
from storage.catalog import NewStreamAsset, StreamFormat


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    kinds={"s3"},
    op_tags=LIGHT_STEP,
    check_specs=blocking_checks("published_video", CAPTION_CHECKS),
)
def published_video(
    context: AssetExecutionContext,
    source_video: SourceVideo,
    renditions: Renditions,
    packaged_streams: Package,
    protected_streams: ProtectedStreams,
    thumbnails: ThumbnailFiles,
    captions: CaptionFiles,
    catalog: CatalogResource,
    object_store: ObjectStoreResource,
    media: MediaResource,
) -> Iterator[Output[str] | AssetCheckResult]:
    """The playable package behind the CDN, and the video switched to it in the catalog."""
    video_id = source_video.video_id
    # A premium video is published encrypted only: its clear segments stay in the run's work
    # prefix, which goes once the version is out.
    stream = protected_streams.cmaf or packaged_streams
    folders = {layout.STREAM: stream.prefix, layout.THUMBS: thumbnails.prefix}
    if protected_streams.aes128 is not None:
        folders[layout.HLS_AES] = protected_streams.aes128.prefix
    key_id = UUID(protected_streams.key_id) if protected_streams.key_id else None
    assert stream.mpd is not None, "a stream package has a DASH manifest"

    store = object_store.store()
    prefix = layout.video_prefix(video_id)
    # Copied inside the store, manifests last, with the captions merged into them; CURRENT
    # moves only once every object is there.
    version, captions_check = publish_version(store, video_id, folders, captions)
    if not captions_check.passed:
        yield from checked(version, {"version": version}, [captions_check])
        return
    rows = [
        NewStreamAsset(
            width=rung.width,
            height=rung.height,
            bitrate=rung.bandwidth,
            codec=rung.codecs,
            format=stream_format,
            cdn_url=media.cdn_url(layout.stream_key(video_id, version, path)),
            drm_key_id=key_id,
        )
        for rung in renditions.ladder.rungs
        for stream_format, path in (
            (StreamFormat.DASH, stream.mpd),
            (StreamFormat.HLS, stream.playlists[rung.name]),
        )
    ]
    poster_url = media.cdn_url(layout.thumbs_key(video_id, version, thumbnails.poster))
    catalog.catalog.publish_video(
        UUID(video_id), version, rows, poster_url, source_video.info.duration_s
    )
    removed = store.prune(prefix, keep=KEEP_VERSIONS)
    objects = len(store.list(layout.version_prefix(video_id, version)))
    # Last, so that a retry of this step still finds what it publishes. Runs of one video never
    # overlap (the run queue's per-video limit): this run's work, and what failed runs before
    # it left, is no one else's.
    work_objects = store.delete_prefix(layout.video_work_prefix(video_id))

    yield from checked(
        version,
        {
            "version": version,
            "dash": MetadataValue.url(
                media.cdn_url(layout.stream_key(video_id, version, stream.mpd))
            ),
            "hls": MetadataValue.url(
                media.cdn_url(layout.stream_key(video_id, version, stream.hls_master))
            ),
            "encrypted": key_id is not None,
            "stream_assets": len(rows),
            "objects": objects,
            "pruned_versions": len(removed),
            "work_objects_deleted": work_objects,
            "captions": ", ".join(captions.languages) or "none",
        },
        [captions_check],
    )
