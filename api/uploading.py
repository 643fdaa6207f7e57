"""The upload flow over HTTP, for the videos and uploads routers: the signed URL of an upload
through the API, and the upload flow's refusals as HTTP errors."""

from __future__ import annotations

from api.errors import ApiError
from api.signing import UrlSigner
from reelflow.settings import Settings
from storage.catalog import Upload
from storage.uploads import (
    InvalidChunk,
    InvalidPartList,
    LargerThanDeclared,
    NotAVideo,
    UploadConflict,
    UploadError,
    UploadExpired,
    UploadNotFound,
    UploadTooLarge,
)

STATUSES: dict[type[UploadError], int] = {
    InvalidChunk: 400,
    UploadNotFound: 404,
    UploadConflict: 409,
    UploadExpired: 410,
    UploadTooLarge: 413,
    NotAVideo: 415,
    LargerThanDeclared: 416,
    InvalidPartList: 422,
}


def upload_error(exc: UploadError) -> ApiError:
    """The HTTP error of a refused upload step; `Upload-Offset` and `Upload-Length` tell the
    client where to resume when the refusal says."""
    headers = {}
    if exc.offset is not None:
        headers["Upload-Offset"] = str(exc.offset)
    if exc.length is not None:
        headers["Upload-Length"] = str(exc.length)
    return ApiError(STATUSES[type(exc)], exc.code, exc.message, headers=headers or None)


def upload_url(settings: Settings, upload: Upload) -> str:
    """The signed URL of an upload through the API, valid as long as the upload is."""
    expires = int(upload.expires_at.timestamp())
    signature = UrlSigner.from_settings(settings).sign_upload(upload.id, expires)
    base = settings.api_base_url.rstrip("/")
    return f"{base}/api/v1/uploads/{upload.id}?expires={expires}&signature={signature}"
