"""Videos: upload, metadata, signed playback, edits, deletion, and moderation by admins.

Opening, completing and discarding uploads is `storage.uploads`'s work: the store decides whether
the bytes come through the API in resumable chunks (`api.routes.uploads`) or go straight to it as
parts to presigned URLs. Completing checks that the stored bytes start like a video container
and hands the video to the ingest sensor.
"""

from __future__ import annotations

import logging
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from api import access
from api.deps import (
    AdminUser,
    CatalogDep,
    CurrentUser,
    LimiterDep,
    MediaRunsDep,
    OptionalUser,
    PublicReadsDep,
    SettingsDep,
    StoreDep,
)
from api.errors import INVALID_BODY, UNAUTHENTICATED, ApiError, error, not_found
from api.limits import RATE_LIMITED
from api.public_reads import VideoAnswer
from api.schemas.captions import CaptionTrackPublic
from api.schemas.videos import (
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
from api.sessions import client_address
from api.signing import UrlSigner, cdn_url, signed_poster_url
from api.uploading import upload_error, upload_url
from media import drm as media_drm
from reelflow import layout
from reelflow.settings import Settings
from storage import uploads
from storage.catalog import (
    Catalog,
    DrmScheme,
    NotFound,
    RatingCounts,
    Role,
    UploadQuota,
    User,
    Video,
    Visibility,
)
from storage.objects import Part
from storage.uploads import NewVideo, UploadError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/videos", tags=["videos"])
admin_router = APIRouter(prefix="/admin/videos", tags=["admin"])

VIDEO_NOT_FOUND = error("No such video, or the caller may not see it")
NOT_MANAGER = error("Only the video's owner or an admin may change it")
ADMINS_ONLY = error("Administrators only")


def _thumbnails(
    video: Video, settings: Settings, signer: UrlSigner
) -> tuple[str | None, str | None]:
    """Signed poster and WebVTT thumbnail track URLs: a grant on the thumbnails folder only,
    since premium metadata (and so its poster) is public while its stream is not."""
    poster_url = signed_poster_url(
        settings, video.thumbnail_url, signer, rights=video.rights_version
    )
    if video.published_version is None:
        return poster_url, None
    thumbs = signer.sign_prefix(
        layout.thumbs_prefix(video.id, video.published_version),
        settings.signed_url_ttl_s,
        rights=video.rights_version,
    )
    return poster_url, cdn_url(settings, thumbs, thumbs.prefix + layout.VTT_NAME)


def _playback(
    video: Video, version: str, catalog: Catalog, settings: Settings, signer: UrlSigner
) -> PlaybackPublic:
    """Signed manifest URLs of the published `version`, and how to get its keys if encrypted."""
    grant = signer.sign_prefix(
        layout.version_prefix(video.id, version),
        settings.signed_url_ttl_s,
        rights=video.rights_version,
    )
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
                cdn_url(settings, grant, layout.hls_aes_master_key(video.id, version))
                if has_aes
                else None
            ),
            hls_key_url=f"{api}/api/v1/drm/hls-key/{video.id}" if has_aes else None,
        )
    return PlaybackPublic(
        hls_url=cdn_url(settings, grant, layout.hls_master_key(video.id, version)),
        dash_url=cdn_url(settings, grant, layout.mpd_key(video.id, version)),
        expires_at=grant.expires_at,
        drm=drm,
    )


def video_public(
    video: Video,
    user: User | None,
    catalog: Catalog,
    settings: Settings,
    rated: RatingCounts | None = None,
) -> VideoPublic:
    """The video as `user` (who can see it) may see it, with playback URLs if they may play it."""
    signer = UrlSigner.from_settings(settings)
    poster_url, vtt_url = _thumbnails(video, settings, signer)
    version = video.published_version
    if rated is None:
        rated = catalog.rating_counts(video.id)
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
        playback=(
            _playback(video, version, catalog, settings, signer)
            if version is not None and access.can_play(video, user)
            else None
        ),
        captions=[
            CaptionTrackPublic(language=track.language, label=track.label)
            for track in catalog.list_captions(video.id)
        ],
        likes=rated.likes,
        dislikes=rated.dislikes,
    )


def _json(model: VideoPublic, status_code: int = 200) -> Response:
    return _json_body(model.model_dump_json(), status_code)


def _json_body(body: str, status_code: int = 200) -> Response:
    # Playback URLs are capabilities of this caller: no cache may keep or share them.
    return Response(
        body,
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "private, no-store"},
    )


@router.post(
    "/upload/initiate",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadTicket,
    responses={
        401: UNAUTHENTICATED,
        403: error("Only creator and admin accounts upload videos"),
        409: error(
            "The account already has `REELFLOW_MAX_OPEN_UPLOADS` uploads open, or this one"
            " would take the bytes they declare over `REELFLOW_MAX_UPLOAD_BYTES_IN_FLIGHT`"
        ),
        413: error("The declared size is over the upload limit"),
        415: error("The declared content type is not a video type"),
        422: INVALID_BODY,
        429: RATE_LIMITED,
    },
)
def initiate_upload(
    body: VideoCreate,
    request: Request,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> UploadTicket:
    """Create a video and open the upload of its source file (creators and admins)."""
    if user.role not in (Role.CREATOR, Role.ADMIN):
        raise ApiError(403, "creators_only", "only creator accounts upload videos")
    limiter.check("upload", address=client_address(request), account=str(user.id))
    new = NewVideo(
        owner_id=user.id,
        title=body.title,
        size_bytes=body.size_bytes,
        content_type=body.content_type,
        description=body.description,
        tags=body.tags,
        visibility=body.visibility,
    )
    try:
        ticket = uploads.open_upload(
            catalog,
            store,
            new,
            max_bytes=settings.max_upload_bytes,
            chunk_size=settings.upload_chunk_max_bytes,
            quota=UploadQuota(settings.max_open_uploads, settings.max_upload_bytes_in_flight),
        )
    except UploadError as exc:
        raise upload_error(exc) from None
    upload = ticket.upload
    return UploadTicket(
        video_id=upload.video_id,
        upload_id=upload.id,
        method="s3" if ticket.direct else "local",
        upload_url=None if ticket.direct else upload_url(settings, upload),
        expires_at=upload.expires_at,
        chunk_size=ticket.chunk_size,
        parts=[
            UploadPartUrl(part_number=number, url=url)
            for number, url in enumerate(ticket.part_urls, start=1)
        ],
    )


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
    media_runs: MediaRunsDep,
    background: BackgroundTasks,
    body: UploadComplete | None = None,
) -> Response:
    """Finish the upload: the stored file must look like a video; processing starts at once."""
    video = access.visible_video_or_404(catalog, video_id, user)
    if not access.is_owner(video, user):
        raise ApiError(403, "forbidden", "only the video's owner may complete its upload")
    parts = [Part(part.part_number, part.etag) for part in body.parts] if body else []
    try:
        completed = uploads.complete_upload(
            catalog, store, settings.uploads_partial_dir, video.id, parts
        )
    except UploadError as exc:
        raise upload_error(exc) from None
    log.info(
        "upload %s of video %s complete (%s)", completed.upload.id, video.id, completed.container
    )
    # After the answer: the creator waits for the upload, not for the pipeline to queue its run.
    background.add_task(media_runs.start, video.id, completed.upload.id)
    return _json(video_public(catalog.get_video(video.id), user, catalog, settings), 202)


@router.get(
    "/{video_id:uuid}",
    response_model=VideoPublic,
    responses={401: UNAUTHENTICATED, 404: VIDEO_NOT_FOUND},
)
def read_video(
    video_id: UUID,
    user: OptionalUser,
    catalog: CatalogDep,
    settings: SettingsDep,
    reads: PublicReadsDep,
) -> Response:
    """A video's metadata, and signed playback URLs when the caller may play it."""

    def load() -> VideoAnswer:
        # The row and its like and dislike counts in one statement: this is the hot path.
        try:
            video, rated = catalog.get_video_rated(video_id)
        except NotFound:
            raise not_found("video") from None
        if not access.can_see(video, user):
            raise not_found("video")
        shared = video.visibility == Visibility.PUBLIC and not access.can_manage(video, user)
        body = video_public(video, user, catalog, settings, rated).model_dump_json()
        return VideoAnswer(video.uploaded_by_user_id, body, shared)

    if access.is_admin(user):
        answer = load()
    else:
        answer = reads.video(video_id, load)
        # Its owner may see more than viewers do (why processing failed).
        if answer.cached and user is not None and answer.owner_id == user.id:
            answer = load()
    return _json_body(answer.body)


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
    _, discarded = catalog.delete_video(video.id)
    # The rows are gone first: a failure below leaves unreachable objects, never a video
    # whose streams are half deleted.
    uploads.discard_uploads(store, settings.uploads_partial_dir, video.id, discarded)
    store.delete_prefix(layout.video_prefix(video.id))
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
    video_id: UUID,
    admin: AdminUser,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> Response:
    """Undo a takedown: the video is back as it was before."""
    video = catalog.restore_video(video_id)
    log.info("video %s restored by %s", video.id, admin.id)
    return _json(video_public(video, admin, catalog, settings))
