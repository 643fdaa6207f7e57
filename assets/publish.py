"""Publishing stage: the package under a new version in the object store, then the switch."""

import os
import shutil
from pathlib import Path
from uuid import UUID

from dagster import AssetExecutionContext, MetadataValue, asset

from assets.drm import ProtectedStreams
from assets.ingest import GROUP, TRANSIENT_RETRY, SourceVideo, videos
from assets.resources import CatalogResource, MediaResource, ObjectStoreResource
from assets.transcode import Renditions
from media.encode import EncodeResult
from media.thumbnails import Thumbnails
from reelflow import layout
from storage.catalog import NewStreamAsset, StreamFormat

# Versions kept in the object store: the published one and the one before it, which players
# that loaded their manifest just before the switch may still be reading.
KEEP_VERSIONS = 2


def stage_tree(source: Path, target: Path) -> None:
    """Place a directory in the publish staging area, hard-linked when on the same disk."""
    try:
        shutil.copytree(source, target, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)


@asset(group_name=GROUP, partitions_def=videos, retry_policy=TRANSIENT_RETRY, kinds={"s3"})
def published_video(
    context: AssetExecutionContext,
    source_video: SourceVideo,
    renditions: Renditions,
    packaged_streams: EncodeResult,
    protected_streams: ProtectedStreams,
    thumbnails: Thumbnails,
    catalog: CatalogResource,
    object_store: ObjectStoreResource,
    media: MediaResource,
) -> str:
    """The playable package behind the CDN, and the video switched to it in the catalog."""
    video_id = source_video.video_id
    staging = media.video_dir(video_id) / "publish"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    cmaf, aes128 = protected_streams.cmaf, protected_streams.aes128
    # A premium video is published encrypted only: its clear segments never leave the worker.
    if cmaf is not None and aes128 is not None:
        stage_tree(cmaf.out_dir, staging / layout.STREAM)
        stage_tree(aes128.out_dir, staging / layout.HLS_AES)
        mpd = cmaf.mpd.relative_to(cmaf.out_dir)
        master = cmaf.hls_master.relative_to(cmaf.out_dir)
        playlists = {name: p.relative_to(cmaf.out_dir) for name, p in cmaf.media_playlists.items()}
        key_id = UUID(protected_streams.key_id) if protected_streams.key_id else None
    else:
        stage_tree(packaged_streams.out_dir, staging / layout.STREAM)
        mpd = packaged_streams.mpd.relative_to(packaged_streams.out_dir)
        master = packaged_streams.hls_master.relative_to(packaged_streams.out_dir)
        playlists = {
            r.rung.name: r.files.playlist.relative_to(packaged_streams.out_dir)
            for r in packaged_streams.renditions
        }
        key_id = None
    stage_tree(thumbnails.poster.parent, staging / layout.THUMBS)

    store = object_store.store()
    prefix = layout.video_prefix(video_id)
    version = store.publish(prefix, staging)
    rows = [
        NewStreamAsset(
            width=output.rung.width,
            height=output.rung.height,
            bitrate=output.rung.bandwidth,
            codec=output.rung.codecs,
            format=stream_format,
            cdn_url=media.cdn_url(layout.stream_key(video_id, version, path)),
            drm_key_id=key_id,
        )
        for output in renditions.encoded.renditions
        for stream_format, path in (
            (StreamFormat.DASH, mpd),
            (StreamFormat.HLS, playlists[output.rung.name]),
        )
    ]
    poster_url = media.cdn_url(layout.thumbs_key(video_id, version, thumbnails.poster.name))
    catalog.catalog.publish_video(
        UUID(video_id), version, rows, poster_url, source_video.info.duration_s
    )
    removed = store.prune(prefix, keep=KEEP_VERSIONS)
    shutil.rmtree(staging, ignore_errors=True)

    context.add_output_metadata(
        {
            "version": version,
            "dash": MetadataValue.url(media.cdn_url(layout.stream_key(video_id, version, mpd))),
            "hls": MetadataValue.url(media.cdn_url(layout.stream_key(video_id, version, master))),
            "encrypted": key_id is not None,
            "stream_assets": len(rows),
            "objects": len(store.list(layout.version_prefix(video_id, version))),
            "pruned_versions": len(removed),
        }
    )
    return version
