"""Packaging stage: HLS and DASH manifests over the same CMAF segments."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    asset,
)

from assets.ingest import GROUP, video_check, videos
from assets.transcode import Renditions, check_result
from media import checks, manifests
from media.encode import EncodeResult


@asset(group_name=GROUP, partitions_def=videos, kinds={"hls", "dash"})
def packaged_streams(context: AssetExecutionContext, renditions: Renditions) -> EncodeResult:
    """Static VOD HLS master/media playlists and a DASH MPD, sharing one set of segments."""
    encoded = renditions.encoded
    master = manifests.parse_master_playlist(encoded.hls_master.read_text())
    dash_files = {
        path.resolve() for stream in manifests.mpd_streams(encoded.mpd) for path in stream.files
    }
    hls_files = {path.resolve() for path in encoded.media_files}
    context.add_output_metadata(
        {
            "dash_manifest": encoded.mpd.name,
            "hls_master": encoded.hls_master.name,
            "hls_variants": len(master.variants),
            "media_files": len(hls_files),
            "shared_segments": len(dash_files & hls_files),
            "package_bytes": encoded.total_bytes,
        }
    )
    return encoded


@video_check(asset=packaged_streams, blocking=True)
def packaged_manifests_resolve(
    context: AssetCheckExecutionContext, packaged_streams: EncodeResult
) -> AssetCheckResult:
    """The MPD and every HLS playlist parse, and every URI they reference exists."""
    return check_result(checks.manifests_resolve(packaged_streams.out_dir))
