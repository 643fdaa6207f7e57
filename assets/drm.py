"""DRM stage: encrypted CMAF (ClearKey, cbcs or cenc) and AES-128 HLS for premium videos."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from dagster import AssetCheckResult, AssetExecutionContext, Output, asset

from assets.ingest import (
    GROUP,
    TRANSIENT_RETRY,
    SourceVideo,
    output_prefix,
    store_outputs,
    videos,
)
from assets.package import Package
from assets.queues import HEAVY_STEP
from assets.resources import CatalogResource, MediaResource, ObjectStoreResource
from assets.transcode import Renditions, blocking_checks, checked, combine
from media import checks, manifests
from media import drm as media_drm
from media.drm import ContentKey
from reelflow import layout
from storage.catalog import DrmScheme, Visibility

CMAF = "cmaf"


@dataclass(frozen=True)
class ProtectedStreams:
    """The encrypted packages of a premium video; `None` parts for videos served in the clear."""

    cmaf: Package | None = None
    aes128: Package | None = None
    key_id: str | None = None
    aes128_key_id: str | None = None


PROTECTED_CHECKS = {
    "protected_manifests_resolve": (
        "The encrypted packages' manifests parse and every URI they reference exists."
    ),
    "protected_decrypts_to_clear": (
        "Each encrypted rendition decrypts with its key to the same frames as the clear one."
    ),
}


def content_key(
    catalog: CatalogResource, media: MediaResource, video_id: UUID, scheme: DrmScheme
) -> ContentKey:
    """The video's key for `scheme`, created on first use and kept for re-runs.

    Re-using the key keeps earlier published versions playable with the licences players
    already hold.
    """
    for stored in catalog.catalog.keys_for_video(video_id):
        if stored.scheme == scheme:
            kept = catalog.catalog.get_drm_key(stored.key_id, media.drm_master_key)
            return ContentKey(stored.key_id.bytes, kept.content_key, secrets.token_bytes(16))
    created = media_drm.new_content_key()
    catalog.catalog.put_drm_key(
        video_id, UUID(bytes=created.key_id), created.key, scheme, media.drm_master_key
    )
    return created


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    kinds={"shaka"},
    op_tags=HEAVY_STEP,
    check_specs=blocking_checks("protected_streams", PROTECTED_CHECKS),
)
def protected_streams(
    context: AssetExecutionContext,
    source_video: SourceVideo,
    renditions: Renditions,
    catalog: CatalogResource,
    media: MediaResource,
    object_store: ObjectStoreResource,
) -> Iterator[Output[ProtectedStreams] | AssetCheckResult]:
    """Encrypted CMAF (DASH + HLS, ClearKey) and AES-128 HLS for premium videos."""
    if source_video.visibility != Visibility.PREMIUM:
        clear = "served in the clear: nothing encrypted"
        results = [
            AssetCheckResult(check_name=name, passed=True, description=clear)
            for name in PROTECTED_CHECKS
        ]
        yield from checked(ProtectedStreams(), {"protected": False}, results)
        return
    video_id = UUID(source_video.video_id)
    scheme = DrmScheme(media.drm_scheme)
    segment_s = renditions.ladder.segment_duration_s
    store = object_store.store()
    prefix = output_prefix(context)
    with media.step_dir() as directory:
        clear_dir = directory / "clear"
        store.download_tree(renditions.prefix, clear_dir)
        streams = renditions.clear_streams()
        out = directory / "protected"
        key = content_key(catalog, media, video_id, scheme)
        cmaf = media_drm.encrypt_cmaf(
            clear_dir,
            streams,
            key,
            out / CMAF,
            scheme=media.drm_scheme,  # type: ignore[arg-type]
            segment_s=segment_s,
            work_dir=directory,
        )
        aes_key = content_key(catalog, media, video_id, DrmScheme.AES_128)
        aes128 = media_drm.encrypt_hls_aes128(
            clear_dir,
            streams,
            aes_key.key,
            media.hls_key_uri(source_video.video_id),
            out / layout.HLS_AES,
            segment_s=segment_s,
            work_dir=directory,
        )
        # The key players get: the one the catalog holds, not the one in memory.
        stored = catalog.catalog.get_drm_key(UUID(bytes=key.key_id), media.drm_master_key)
        decrypted = {
            stream.name: checks.decrypts_to_clear(
                [clear_dir / name for name in stream.files],
                _segments(cmaf.media_playlists[stream.name]),
                stored.content_key,
            )
            for stream in streams
        }
        results = [
            combine(
                {
                    CMAF: checks.manifests_resolve(cmaf.out_dir),
                    "aes128": checks.manifests_resolve(aes128.out_dir),
                },
                "protected_manifests_resolve",
            ),
            combine(decrypted, "protected_decrypts_to_clear"),
        ]
        store_outputs(store, prefix, out)

    def package(root: Path, master: Path, playlists: dict[str, Path], mpd: Path | None) -> Package:
        return Package(
            prefix=f"{prefix}{root.name}/",
            hls_master=master.relative_to(root).as_posix(),
            playlists={name: p.relative_to(root).as_posix() for name, p in playlists.items()},
            mpd=mpd.relative_to(root).as_posix() if mpd else None,
        )

    key_id, aes128_key_id = str(UUID(bytes=key.key_id)), str(UUID(bytes=aes_key.key_id))
    protected = ProtectedStreams(
        cmaf=package(cmaf.out_dir, cmaf.hls_master, cmaf.media_playlists, cmaf.mpd),
        aes128=package(aes128.out_dir, aes128.master, aes128.media_playlists, None),
        key_id=key_id,
        aes128_key_id=aes128_key_id,
    )
    metadata = {
        "protected": True,
        "scheme": scheme.value,
        "key_id": key_id,
        "aes128_key_id": aes128_key_id,
        "aes128_key_uri": aes128.key_uri,
    }
    yield from checked(protected, metadata, results)


def _segments(playlist: Path) -> list[Path]:
    """The files an HLS media playlist names, in order."""
    parsed = manifests.parse_media_playlist(playlist.read_text())
    return [playlist.parent / uri for uri in parsed.uris]
