"""DRM stage: encrypted CMAF (ClearKey, cbcs or cenc) and AES-128 HLS for premium videos."""

import secrets
from dataclasses import dataclass
from uuid import UUID

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    asset,
)

from assets.ingest import GROUP, TRANSIENT_RETRY, SourceVideo, video_check, videos
from assets.resources import CatalogResource, MediaResource
from assets.transcode import Renditions, combine
from media import checks, manifests
from media import drm as media_drm
from media.drm import Aes128Package, ContentKey, ProtectedPackage
from reelflow import layout
from storage.catalog import DrmScheme, Visibility


@dataclass(frozen=True)
class ProtectedStreams:
    """The encrypted packages of a premium video; `None` parts for videos served in the clear."""

    cmaf: ProtectedPackage | None = None
    aes128: Aes128Package | None = None
    key_id: str | None = None
    aes128_key_id: str | None = None


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


@asset(group_name=GROUP, partitions_def=videos, retry_policy=TRANSIENT_RETRY, kinds={"shaka"})
def protected_streams(
    context: AssetExecutionContext,
    source_video: SourceVideo,
    renditions: Renditions,
    catalog: CatalogResource,
    media: MediaResource,
) -> ProtectedStreams:
    """Encrypted CMAF (DASH + HLS, ClearKey) and AES-128 HLS for premium videos."""
    if source_video.visibility != Visibility.PREMIUM:
        context.add_output_metadata({"protected": False})
        return ProtectedStreams()
    video_id = UUID(source_video.video_id)
    scheme = DrmScheme(media.drm_scheme)
    work = media.video_dir(source_video.video_id) / "protected"
    work.mkdir(parents=True, exist_ok=True)
    encoded = renditions.encoded
    streams = media_drm.clear_streams(encoded)

    key = content_key(catalog, media, video_id, scheme)
    cmaf = media_drm.encrypt_cmaf(
        encoded.out_dir,
        streams,
        key,
        work / "cmaf",
        scheme=media.drm_scheme,  # type: ignore[arg-type]
        segment_s=renditions.ladder.segment_duration_s,
        work_dir=work,
    )
    aes_key = content_key(catalog, media, video_id, DrmScheme.AES_128)
    aes128 = media_drm.encrypt_hls_aes128(
        encoded.out_dir,
        streams,
        aes_key.key,
        media.hls_key_uri(source_video.video_id),
        work / layout.HLS_AES,
        segment_s=renditions.ladder.segment_duration_s,
        work_dir=work,
    )
    context.add_output_metadata(
        {
            "protected": True,
            "scheme": scheme.value,
            "key_id": str(UUID(bytes=key.key_id)),
            "aes128_key_id": str(UUID(bytes=aes_key.key_id)),
            "aes128_key_uri": aes128.key_uri,
        }
    )
    return ProtectedStreams(
        cmaf=cmaf,
        aes128=aes128,
        key_id=str(UUID(bytes=key.key_id)),
        aes128_key_id=str(UUID(bytes=aes_key.key_id)),
    )


@video_check(asset=protected_streams, blocking=True)
def protected_manifests_resolve(
    context: AssetCheckExecutionContext, protected_streams: ProtectedStreams
) -> AssetCheckResult:
    """The encrypted packages' manifests parse and every URI they reference exists."""
    if protected_streams.cmaf is None or protected_streams.aes128 is None:
        return AssetCheckResult(passed=True, description="served in the clear: nothing encrypted")
    return combine(
        {
            "cmaf": checks.manifests_resolve(protected_streams.cmaf.out_dir),
            "aes128": checks.manifests_resolve(protected_streams.aes128.out_dir),
        }
    )


@video_check(
    asset=protected_streams,
    blocking=True,
    additional_ins={"renditions": AssetIn("renditions")},
)
def protected_decrypts_to_clear(
    context: AssetCheckExecutionContext,
    protected_streams: ProtectedStreams,
    renditions: Renditions,
    catalog: CatalogResource,
    media: MediaResource,
) -> AssetCheckResult:
    """Each encrypted rendition decrypts with its key to the same frames as the clear one."""
    package = protected_streams.cmaf
    if package is None or protected_streams.key_id is None:
        return AssetCheckResult(passed=True, description="served in the clear: nothing encrypted")
    key = catalog.catalog.get_drm_key(UUID(protected_streams.key_id), media.drm_master_key)
    clear = {stream.name: stream.files for stream in media_drm.clear_streams(renditions.encoded)}
    outcomes = {}
    for name, playlist in package.media_playlists.items():
        parsed = manifests.parse_media_playlist(playlist.read_text())
        encrypted = [playlist.parent / uri for uri in parsed.uris]
        outcomes[name] = checks.decrypts_to_clear(clear[name], encrypted, key.content_key)
    return combine(outcomes)
