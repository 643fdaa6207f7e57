"""Videos: upload, metadata, signed playback, edits, deletion, and moderation by admins.

An upload goes to the API in resumable chunks (`api.routes.uploads`) for the local object store,
or straight to S3 as a multipart upload with presigned part URLs. Completing it checks that the
stored bytes start like a video container and hands the video to the ingest sensor.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
from datetime import UTC, datetime
from uuid import UUID

from botocore.exceptions import ClientError
from fastapi import APIRouter, Response, status

from api import access
from api.deps import AdminUser, CatalogDep, CurrentUser, OptionalUser, SettingsDep, StoreDep
from api.errors import INVALID_BODY, UNAUTHENTICATED, ApiError, error
from api.routes.cdn import read_range
from api.routes.uploads import discard_partial, finish_assembled, upload_url
from api.schemas.videos import (
    CompletedPart,
    DrmPublic,
    PlaybackPublic,
    TakedownRequest,
    UploadComplete,
    UploadPartUrl,
    UploadTicket,
    VideoCreate,
    VideoPublic,
    VideoUpdate,
)
from api.signing import UrlSigner, cdn_url, signed_poster_url
from media import drm as media_drm
from media import encode
from media.containers import HEAD_BYTES, sniff_container
from media.thumbnails import VTT_NAME
from reelflow.settings import Settings
from storage.catalog import (
    OPEN_UPLOAD_STATUSES,
    Catalog,
    DrmScheme,
    NotFound,
    Upload,
    User,
    Video,
)
from storage.objects import (
    DEFAULT_CONTENT_TYPE,
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
    S3ObjectStore,
)
from storage.uploads import SOURCE_PREFIX

log = logging.getLogger(__name__)

router = APIRouter(prefix="/videos", tags=["videos"])
admin_router = APIRouter(prefix="/admin/videos", tags=["admin"])

VIDEO_NOT_FOUND = error("No such video, or the caller may not see it")
NOT_MANAGER = error("Only the video's owner or an admin may change it")
ADMINS_ONLY = error("Administrators only")

# S3 multipart limits: parts of 5 MiB at least (but the last), 10,000 parts at most.
S3_MIN_PART_BYTES = 5 * 1024**2
S3_MAX_PARTS = 10_000
# Declared types a video source may have; the stored bytes are checked at completion anyway.
ACCEPTED_CONTENT_TYPES = frozenset(
    {DEFAULT_CONTENT_TYPE, "application/mp4", "application/x-matroska", "application/mxf"}
)


def _content_type_accepted(content_type: str) -> bool:
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence.startswith("video/") or essence in ACCEPTED_CONTENT_TYPES


def _thumbnails(
    video: Video, settings: Settings, signer: UrlSigner
) -> tuple[str | None, str | None]:
    """Signed poster and WebVTT thumbnail track URLs: a grant on the thumbnails folder only,
    since premium metadata (and so its poster) is public while its stream is not."""
    poster_url = signed_poster_url(settings, video.thumbnail_url, signer)
    if video.published_version is None:
        return poster_url, None
    thumbs = signer.sign_prefix(
        f"videos/{video.id}/{video.published_version}/thumbs/", settings.signed_url_ttl_s
    )
    return poster_url, cdn_url(settings, thumbs, thumbs.prefix + VTT_NAME)


def _playback(
    video: Video, catalog: Catalog, settings: Settings, signer: UrlSigner
) -> PlaybackPublic:
    grant = signer.sign_prefix(
        f"videos/{video.id}/{video.published_version}/", settings.signed_url_ttl_s
    )
    stream = grant.prefix + "stream/"
    key_ids = {a.drm_key_id for a in catalog.list_stream_assets(video.id) if a.drm_key_id}
    drm = None
    if key_ids:
        keys = catalog.keys_for_video(video.id)
        stream_keys = [k for k in keys if k.key_id in key_ids]
        has_aes = any(k.scheme == DrmScheme.AES_128 for k in keys)
        api = settings.api_base_url.rstrip("/")
        drm = DrmPublic(
            scheme=stream_keys[0].scheme.value if stream_keys else "",
            key_ids=sorted(media_drm.kid_b64url(k.key_id.bytes) for k in stream_keys),
            clearkey_license_url=f"{api}/api/v1/drm/clearkey/license",
            hls_aes_url=(
                cdn_url(settings, grant, f"{grant.prefix}hls-aes/{media_drm.HLS_MASTER_NAME}")
                if has_aes
                else None
            ),
            hls_key_url=f"{api}/api/v1/drm/hls-key/{video.id}" if has_aes else None,
        )
    return PlaybackPublic(
        hls_url=cdn_url(settings, grant, stream + encode.HLS_MASTER_NAME),
        dash_url=cdn_url(settings, grant, stream + encode.MPD_NAME),
        expires_at=grant.expires_at,
        drm=drm,
    )


def video_public(
    video: Video, user: User | None, catalog: Catalog, settings: Settings
) -> VideoPublic:
    """The video as `user` (who can see it) may see it, with playback URLs if they may play it."""
    signer = UrlSigner.from_settings(settings)
    poster_url, vtt_url = _thumbnails(video, settings, signer)
    playable = video.published_version is not None and access.can_play(video, user)
    return VideoPublic(
        id=video.id,
        title=video.title,
        description=video.description,
        tags=list(video.tags),
        visibility=video.visibility,
        owner_id=video.uploaded_by_user_id,
        encoding_status=video.encoding_status,
        failure_reason=video.failure_reason if access.can_manage(video, user) else None,
        duration_s=video.duration_s,
        created_at=video.created_at,
        updated_at=video.updated_at,
        published_at=video.published_at,
        poster_url=poster_url,
        thumbnails_vtt_url=vtt_url,
        taken_down_at=video.taken_down_at if access.is_admin(user) else None,
        takedown_reason=video.takedown_reason if access.is_admin(user) else None,
        playback=_playback(video, catalog, settings, signer) if playable else None,
    )


def _json(model: VideoPublic, status_code: int = 200) -> Response:
    # Playback URLs are capabilities of this caller: no cache may keep or share them.
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "private, no-store"},
    )


def _part_size(size_bytes: int, settings: Settings) -> int:
    return max(
        S3_MIN_PART_BYTES, settings.upload_chunk_max_bytes, math.ceil(size_bytes / S3_MAX_PARTS)
    )


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - datetime.now(UTC)).total_seconds()))


def _open_s3_upload(
    video: Video, body: VideoCreate, store: S3ObjectStore, catalog: Catalog, settings: Settings
) -> UploadTicket:
    key = _source_key(video)
    created = store.client.create_multipart_upload(
        Bucket=store.bucket, Key=key, ContentType=DEFAULT_CONTENT_TYPE
    )
    s3_upload_id = created["UploadId"]
    try:
        upload = catalog.create_upload(
            video.id,
            object_key=key,
            size_bytes=body.size_bytes,
            content_type=body.content_type,
            s3_upload_id=s3_upload_id,
        )
    except BaseException:
        store.client.abort_multipart_upload(Bucket=store.bucket, Key=key, UploadId=s3_upload_id)
        raise
    part_size = _part_size(body.size_bytes, settings)
    expires_in = _seconds_until(upload.expires_at)
    parts = [
        UploadPartUrl(
            part_number=number,
            url=store.client.generate_presigned_url(
                "upload_part",
                Params={
                    "Bucket": store.bucket,
                    "Key": key,
                    "UploadId": s3_upload_id,
                    "PartNumber": number,
                },
                ExpiresIn=expires_in,
                HttpMethod="PUT",
            ),
        )
        for number in range(1, math.ceil(body.size_bytes / part_size) + 1)
    ]
    return UploadTicket(
        video_id=video.id,
        upload_id=upload.id,
        method="s3",
        expires_at=upload.expires_at,
        chunk_size=part_size,
        parts=parts,
    )


def _source_key(video: Video) -> str:
    # A fresh key per upload: the catalog keeps one upload per object key.
    return f"{SOURCE_PREFIX}{video.id}/source-{secrets.token_hex(6)}"


@router.post(
    "/upload/initiate",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadTicket,
    responses={
        401: UNAUTHENTICATED,
        413: error("The declared size is over the upload limit"),
        415: error("The declared content type is not a video type"),
        422: INVALID_BODY,
    },
)
def initiate_upload(
    body: VideoCreate,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
) -> UploadTicket:
    """Create a video and open the upload of its source file."""
    if body.size_bytes > settings.max_upload_bytes:
        raise ApiError(
            413, "upload_too_large", f"uploads are at most {settings.max_upload_bytes} bytes"
        )
    if not _content_type_accepted(body.content_type):
        raise ApiError(415, "unsupported_media_type", f"{body.content_type!r} is not a video")
    video = catalog.create_video(
        user.id,
        body.title,
        description=body.description,
        tags=body.tags,
        visibility=body.visibility,
    )
    try:
        if isinstance(store, S3ObjectStore):
            return _open_s3_upload(video, body, store, catalog, settings)
        upload = catalog.create_upload(
            video.id,
            object_key=_source_key(video),
            size_bytes=body.size_bytes,
            content_type=body.content_type,
        )
    except BaseException:
        # No half-created video: without an upload it could never become anything.
        catalog.delete_video(video.id)
        raise
    return UploadTicket(
        video_id=video.id,
        upload_id=upload.id,
        method="local",
        upload_url=upload_url(settings, upload),
        expires_at=upload.expires_at,
        chunk_size=settings.upload_chunk_max_bytes,
    )


def _complete_s3(store: S3ObjectStore, upload: Upload, parts: list[CompletedPart]) -> None:
    if not parts:
        raise ApiError(422, "parts_required", "list the ETag of every uploaded part")
    numbers = [part.part_number for part in parts]
    if len(set(numbers)) != len(numbers):
        raise ApiError(422, "invalid_parts", "a part number is listed twice")
    try:
        store.client.complete_multipart_upload(
            Bucket=store.bucket,
            Key=upload.object_key,
            UploadId=upload.s3_upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": part.part_number, "ETag": part.etag}
                    for part in sorted(parts, key=lambda part: part.part_number)
                ]
            },
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise ApiError(
            409, "invalid_parts", f"the object store refused the parts ({code or 'error'})"
        ) from exc


def _discard_source(store: ObjectStore, catalog: Catalog, upload: Upload) -> None:
    catalog.abort_upload(upload.id)
    store.delete(upload.object_key)


def _read_head(store: ObjectStore, key: str) -> bytes:
    return b"".join(read_range(store, key, 0, HEAD_BYTES))


@router.post(
    "/{video_id:uuid}/upload/complete",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=VideoPublic,
    responses={
        401: UNAUTHENTICATED,
        403: error("Only the video's owner may complete its upload"),
        404: VIDEO_NOT_FOUND,
        409: error(
            "No open upload, bytes still missing (`Upload-Offset`), the parts were refused, or"
            " the file's size differs from the declared one"
        ),
        415: error("The uploaded file is not a video"),
        422: INVALID_BODY,
    },
)
def complete_upload(
    video_id: UUID,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
    body: UploadComplete | None = None,
) -> Response:
    """Finish the upload: the stored file must look like a video; ingest starts from here."""
    video = access.visible_video_or_404(catalog, video_id, user)
    if not access.is_owner(video, user):
        raise ApiError(403, "forbidden", "only the video's owner may complete its upload")
    try:
        upload = catalog.latest_upload(video.id)
    except NotFound:
        raise ApiError(409, "no_upload", "the video has no upload to complete") from None
    if upload.status not in OPEN_UPLOAD_STATUSES:
        raise ApiError(409, "upload_closed", f"the latest upload is {upload.status}")
    if upload.s3_upload_id is not None and isinstance(store, S3ObjectStore):
        # A retry after a lost answer finds the object already assembled.
        if not store.exists(upload.object_key):
            _complete_s3(store, upload, body.parts if body else [])
    else:
        finish_assembled(settings, store, upload)
    try:
        size = store.size(upload.object_key)
    except ObjectNotFound:
        raise ApiError(
            409,
            "upload_incomplete",
            f"{upload.received_bytes} of {upload.size_bytes} bytes have arrived",
            headers={"Upload-Offset": str(upload.received_bytes)},
        ) from None
    if size != upload.size_bytes:
        _discard_source(store, catalog, upload)
        raise ApiError(
            409,
            "size_mismatch",
            f"the file has {size} bytes, {upload.size_bytes} were declared; start a new upload",
        )
    container = sniff_container(_read_head(store, upload.object_key))
    if container is None:
        _discard_source(store, catalog, upload)
        raise ApiError(415, "unsupported_media_type", "the uploaded file is not a video")
    catalog.record_received(upload.id, size)
    catalog.complete_upload(upload.id)
    log.info("upload %s of video %s complete (%s)", upload.id, video.id, container)
    return _json(video_public(catalog.get_video(video.id), user, catalog, settings), 202)


@router.get(
    "/{video_id:uuid}",
    response_model=VideoPublic,
    responses={401: UNAUTHENTICATED, 404: VIDEO_NOT_FOUND},
)
def read_video(
    video_id: UUID, user: OptionalUser, catalog: CatalogDep, settings: SettingsDep
) -> Response:
    """A video's metadata, and signed playback URLs when the caller may play it."""
    video = access.visible_video_or_404(catalog, video_id, user)
    return _json(video_public(video, user, catalog, settings))


@router.patch(
    "/{video_id:uuid}",
    response_model=VideoPublic,
    responses={401: UNAUTHENTICATED, 403: NOT_MANAGER, 404: VIDEO_NOT_FOUND, 422: INVALID_BODY},
)
def update_video(
    video_id: UUID,
    body: VideoUpdate,
    user: CurrentUser,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """Change a video's title, description, tags or visibility (owner or admin)."""
    video = access.visible_video_or_404(catalog, video_id, user)
    access.require_manage(video, user)
    updated = catalog.update_video(
        video.id,
        title=body.title,
        description=body.description,
        tags=body.tags,
        visibility=body.visibility,
    )
    return _json(video_public(updated, user, catalog, settings))


@router.delete(
    "/{video_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: UNAUTHENTICATED, 403: NOT_MANAGER, 404: VIDEO_NOT_FOUND},
)
def delete_video(
    video_id: UUID,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
) -> Response:
    """Delete a video for good: its catalog rows, published streams and sources."""
    video = access.visible_video_or_404(catalog, video_id, user)
    access.require_manage(video, user)
    _, uploads = catalog.delete_video(video.id)
    # The rows are gone first: a failure below leaves unreachable objects, never a video
    # whose streams are half deleted.
    for upload in uploads:
        discard_partial(settings, upload.id)
        if upload.s3_upload_id and upload.status in OPEN_UPLOAD_STATUSES:
            if isinstance(store, S3ObjectStore):
                with contextlib.suppress(ClientError):
                    store.client.abort_multipart_upload(
                        Bucket=store.bucket, Key=upload.object_key, UploadId=upload.s3_upload_id
                    )
        with contextlib.suppress(InvalidKey):
            store.delete(upload.object_key)
    store.delete_prefix(f"videos/{video.id}")
    store.delete_prefix(f"uploads/{video.id}")
    return Response(status_code=204)


@admin_router.post(
    "/{video_id:uuid}/takedown",
    response_model=VideoPublic,
    responses={
        401: UNAUTHENTICATED,
        403: ADMINS_ONLY,
        404: error("No such video"),
        422: INVALID_BODY,
    },
)
def take_down_video(
    video_id: UUID,
    body: TakedownRequest,
    admin: AdminUser,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """Hide a video from everyone but admins and stop its playback and licences."""
    video = catalog.take_down_video(video_id, body.reason)
    log.info("video %s taken down by %s", video.id, admin.id)
    return _json(video_public(video, admin, catalog, settings))


@admin_router.post(
    "/{video_id:uuid}/restore",
    response_model=VideoPublic,
    responses={401: UNAUTHENTICATED, 403: ADMINS_ONLY, 404: error("No such video")},
)
def restore_video(
    video_id: UUID, admin: AdminUser, catalog: CatalogDep, settings: SettingsDep
) -> Response:
    """Undo a takedown: the video is back as it was before."""
    video = catalog.restore_video(video_id)
    log.info("video %s restored by %s", video.id, admin.id)
    return _json(video_public(video, admin, catalog, settings))
