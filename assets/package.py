"""Packaging stage: HLS and DASH manifests over the same CMAF segments."""

from collections.abc import Iterator
from dataclasses import dataclass, field

from dagster import AssetCheckResult, AssetExecutionContext, Output, asset

from assets.ingest import GROUP, TRANSIENT_RETRY, output_prefix, videos
from assets.queues import LIGHT_STEP
from assets.resources import MediaResource, ObjectStoreResource
from assets.transcode import Renditions, blocking_checks, check_result, checked
from media import checks, manifests


@dataclass(frozen=True)
class Package:
    """A playable package stored under `prefix`: its HLS master playlist, DASH MPD (if any) and
    each stream's HLS media playlist by stream name, as paths relative to the prefix."""

    prefix: str
    hls_master: str
    playlists: dict[str, str] = field(default_factory=dict)
    mpd: str | None = None


PACKAGE_CHECKS = {
    "packaged_manifests_resolve": (
        "The MPD and every HLS playlist parse, and every URI they reference exists."
    ),
}


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    kinds={"hls", "dash"},
    op_tags=LIGHT_STEP,
    check_specs=blocking_checks("packaged_streams", PACKAGE_CHECKS),
)
def packaged_streams(
    context: AssetExecutionContext,
    renditions: Renditions,
    media: MediaResource,
    object_store: ObjectStoreResource,
) -> Iterator[Output[Package] | AssetCheckResult]:
    """Static VOD HLS master/media playlists and a DASH MPD, sharing one set of segments."""
    store = object_store.store()
    prefix = output_prefix(context)
    store.delete_prefix(prefix)
    # The encoder wrote the manifests beside the segments; the package is that tree, copied
    # inside the store, and checked as it is stored.
    store.copy_prefix(renditions.prefix, prefix)
    with media.step_dir() as directory:
        store.download_tree(prefix, directory)
        master = manifests.parse_master_playlist((directory / renditions.hls_master).read_text())
        dash_files = {
            path.resolve()
            for stream in manifests.mpd_streams(directory / renditions.mpd)
            for path in stream.files
        }
        hls_files = {
            (directory / name).resolve() for stream in renditions.streams for name in stream.files
        }
        resolved = checks.manifests_resolve(directory)
        package_bytes = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    metadata = {
        "dash_manifest": renditions.mpd,
        "hls_master": renditions.hls_master,
        "hls_variants": len(master.variants),
        "media_files": len(hls_files),
        "shared_segments": len(dash_files & hls_files),
        "package_bytes": package_bytes,
    }
    package = Package(
        prefix=prefix,
        hls_master=renditions.hls_master,
        playlists={stream.name: stream.playlist for stream in renditions.streams},
        mpd=renditions.mpd,
    )
    yield from checked(package, metadata, [check_result(resolved, "packaged_manifests_resolve")])
