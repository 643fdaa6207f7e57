"""Content keys for entitled players: W3C ClearKey licences and the AES-128 HLS key.

Both answer only for videos the caller may play (`api.access.can_play`). A key ID that is unknown
and one of a video the caller may not see get the same 404, so key IDs reveal nothing. Players
send the bearer token as a header (Shaka request filters, hls.js `xhrSetup`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from api import access
from api.deps import CatalogDep, LimiterDep, OptionalUser, PublicReadsDep, SettingsDep
from api.errors import ApiError, error, not_found
from api.limits import RATE_LIMITED, RateLimiter
from api.schemas.videos import ClearKeyJwk, ClearKeyLicense, ClearKeyLicenseRequest
from api.sessions import client_address
from media.drm import KEY_BYTES, kid_b64url
from storage.catalog import DrmScheme, NotFound, User

router = APIRouter(prefix="/drm", tags=["drm"])

NO_STORE = {"Cache-Control": "no-store"}
SIGN_IN = error("Sign in to play this video")
NOT_ENTITLED = error("The video needs an active subscription, or it was taken down")


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _parse_license_request(body: bytes) -> ClearKeyLicenseRequest:
    # CDMs post the request as bytes, often without a JSON content type; parse it ourselves.
    try:
        return ClearKeyLicenseRequest.model_validate_json(body)
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise ApiError(
            422, "invalid_request", "not a ClearKey licence request", details=details
        ) from None


def _key_id(kid: str) -> UUID:
    try:
        raw = base64.urlsafe_b64decode(kid + "=" * (-len(kid) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES or kid_b64url(raw) != kid:
        raise ApiError(422, "invalid_key_id", f"{kid!r} is not a base64url 16-byte key ID")
    return UUID(bytes=raw)


def _count_licence(limiter: RateLimiter, request: Request, user: User | None) -> None:
    limiter.check(
        "licence",
        address=client_address(request),
        account=None if user is None else str(user.id),
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@router.post(
    "/clearkey/license",
    response_model=ClearKeyLicense,
    responses={
        401: SIGN_IN,
        403: NOT_ENTITLED,
        404: error("A key ID is unknown or belongs to a video the caller may not see"),
        422: error("Not a ClearKey licence request, or a key ID is not 16 bytes in base64url"),
        429: RATE_LIMITED,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ClearKeyLicenseRequest.model_json_schema()}},
        }
    },
)
def clearkey_license(
    body: Annotated[bytes, Depends(_raw_body)],
    request: Request,
    user: OptionalUser,
    catalog: CatalogDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    reads: PublicReadsDep,
) -> Response:
    """A W3C ClearKey licence (JWK set) for key IDs of videos the caller may play."""
    _count_licence(limiter, request, user)
    asked = _parse_license_request(body)
    key_ids = list(dict.fromkeys(_key_id(kid) for kid in asked.kids))
    stored = {key.key_id: key for key in catalog.drm_keys_by_id(key_ids)}
    if len(stored) != len(key_ids):
        raise not_found("key")
    videos = {}
    for video_id in {key.video_id for key in stored.values()}:
        try:
            videos[video_id] = access.visible_video_or_404(catalog, video_id, user, reads)
        except ApiError:
            raise not_found("key") from None
    for video in videos.values():
        access.require_playback(video, user)
    master_key = settings.drm_master_key.get_secret_value()
    jwks = [
        ClearKeyJwk(
            kid=kid_b64url(key_id.bytes),
            k=_b64url(catalog.get_drm_key(key_id, master_key).content_key),
        )
        for key_id in key_ids
    ]
    licence = ClearKeyLicense(keys=jwks, type=asked.type)
    return Response(licence.model_dump_json(), media_type="application/json", headers=NO_STORE)


@router.get(
    "/hls-key/{video_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        401: SIGN_IN,
        403: NOT_ENTITLED,
        404: error("No such video, the caller may not see it, or it has no AES-128 key"),
        429: RATE_LIMITED,
    },
)
def hls_key(
    video_id: UUID,
    request: Request,
    user: OptionalUser,
    catalog: CatalogDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    reads: PublicReadsDep,
) -> Response:
    """The 16-byte AES-128 key of a video's HLS variant, for callers who may play it."""
    _count_licence(limiter, request, user)
    video = access.visible_video_or_404(catalog, video_id, user, reads)
    access.require_playback(video, user)
    aes_keys = [k for k in catalog.keys_for_video(video.id) if k.scheme == DrmScheme.AES_128]
    if not aes_keys:
        raise not_found("key")
    try:
        # The pipeline reuses the first key of a scheme for every version (assets.drm).
        key = catalog.get_drm_key(aes_keys[0].key_id, settings.drm_master_key.get_secret_value())
    except NotFound:
        raise not_found("key") from None
    return Response(key.content_key, media_type="application/octet-stream", headers=NO_STORE)
