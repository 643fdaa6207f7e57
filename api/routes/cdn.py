"""The CDN origin: published objects under a signed prefix, with byte ranges.

`/cdn/t/<token>/<key>` serves `key` when `token` grants a folder that contains it (see
`api.signing`), from any object store, answering `Range` requests with its ranged reads. A video
that is taken down or deleted stops serving at once, whatever tokens are still out there.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from api.deps import CatalogDep, SettingsDep, StoreDep
from api.errors import ApiError, error
from api.signing import UrlSigner
from reelflow import layout
from storage.catalog import Catalog, NotFound, Video, Visibility
from storage.objects import (
    MANIFEST_SUFFIXES,
    VERSION_RE,
    InvalidKey,
    ObjectNotFound,
    guess_content_type,
    validate_key,
)

router = APIRouter(prefix="/cdn", tags=["cdn"])

# Objects under a version folder never change once published; manifests are re-published in
# place when a version is published again, so they are kept briefly. Either is kept no longer
# than the token in its URL lasts (a cached answer would outlive the grant), and by the viewer's
# browser only (`private`) when the video is not public: a shared cache would serve it to
# anyone who has the URL.
IMMUTABLE_S = 31_536_000
MANIFEST_S = 60
UNVERSIONED_CACHE = "no-cache"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# More digits than any object's size has: read as "past every end" without converting them
# (int() of thousands of digits is slow, and refused past 4,300).
_POSITION_DIGITS = 18
_PAST_EVERY_END = 10**_POSITION_DIGITS
_VIDEO_KEY = re.compile(rf"{layout.VIDEOS}/([0-9a-fA-F-]{{36}})/")


@dataclass(frozen=True)
class ByteRange:
    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


class RangeNotSatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a `Range` header asks for, or None to send the whole object.

    Multiple ranges and malformed headers are ignored (RFC 9110 lets a server send the whole
    object); a well-formed range that starts past the end raises RangeNotSatisfiable.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = _position(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(size - suffix, 0), size - 1)
    first = _position(first_text)
    if last_text and _position(last_text) < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable
    last = _position(last_text) if last_text else size - 1
    return ByteRange(first, min(last, size - 1))


def _position(digits: str) -> int:
    stripped = digits.lstrip("0") or "0"
    return _PAST_EVERY_END if len(stripped) > _POSITION_DIGITS else int(stripped)


def cache_control(key: str, grant_left_s: int, shared: bool = True) -> str:
    """How long, and by whom, the answer for `key` may be kept: `grant_left_s` is what is left
    of the token's life; `shared` is False for a video that is not public."""
    parts = key.split("/")
    if len(parts) < 4 or parts[0] != layout.VIDEOS or not VERSION_RE.fullmatch(parts[2]):
        return UNVERSIONED_CACHE
    manifest = PurePosixPath(key).suffix.lower() in MANIFEST_SUFFIXES
    max_age = max(0, min(MANIFEST_S if manifest else IMMUTABLE_S, grant_left_s))
    policy = f"{'public' if shared else 'private'}, max-age={max_age}"
    return policy if manifest else f"{policy}, immutable"


def _error(status: int, code: str, message: str, **headers: str) -> ApiError:
    # Players read error statuses only when the response carries CORS headers.
    return ApiError(status, code, message, headers=CORS_HEADERS | headers)


def _video_served(catalog: Catalog, key: str) -> Video | None:
    """The video `key` belongs to (None for other objects); 404 when it is gone or taken
    down."""
    match = _VIDEO_KEY.match(key)
    if match is None:
        return None
    try:
        video = catalog.get_video(UUID(match.group(1)))
    except (NotFound, ValueError):
        raise _error(404, "not_found", "object not found") from None
    if video.taken_down_at is not None:
        raise _error(404, "not_found", "object not found")
    return video


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None or not etag:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


@router.get(
    "/t/{token}/{key:path}",
    response_class=Response,
    responses={
        206: {"description": "The byte range asked for with `Range`"},
        304: {"description": "Not modified since the `If-None-Match` ETag"},
        403: error(
            "The token is not valid, has expired, or does not grant this path; or the video's"
            " visibility or takedown changed since it was signed (`rights_changed`)"
        ),
        404: error("No such object, or its video was taken down or deleted"),
        416: error("The range starts past the end of the object"),
    },
)
@router.head("/t/{token}/{key:path}", response_class=Response, include_in_schema=False)
def serve(
    token: str,
    key: str,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    store: StoreDep,
) -> Response:
    """A published object under a signed prefix: manifests, segments, posters, sprites."""
    try:
        validate_key(key)
    except InvalidKey:
        raise _error(404, "not_found", "object not found") from None
    grant = UrlSigner.from_settings(settings).verify(token, key)
    if grant is None:
        raise _error(403, "invalid_token", "the playback URL is not valid or has expired")
    video = _video_served(catalog, key)
    if video is not None and grant.rights != video.rights_version:
        # Signed before the video was made private or premium, taken down or restored.
        raise _error(
            403, "rights_changed", "who may watch this video has changed: get a new playback URL"
        )
    grant_left_s = int(grant.expires - time.time())
    shared = video is None or video.visibility == Visibility.PUBLIC
    try:
        info = store.stat(key)
    except ObjectNotFound:
        raise _error(404, "not_found", "object not found") from None
    headers = CORS_HEADERS | {
        "Accept-Ranges": "bytes",
        "Cache-Control": cache_control(key, grant_left_s, shared),
        "Content-Type": guess_content_type(key),
    }
    if info.etag:
        headers["ETag"] = info.etag
    if _etag_matches(request.headers.get("if-none-match"), info.etag):
        return Response(status_code=304, headers=headers)

    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != info.etag:
        # The client's partial copy is of another object: it gets the whole new one.
        range_header = None
    try:
        wanted = parse_range(range_header, info.size)
    except RangeNotSatisfiable:
        raise _error(
            416,
            "range_not_satisfiable",
            f"the object has {info.size} bytes",
            **{"Content-Range": f"bytes */{info.size}"},
        ) from None
    status = 200
    first, length = 0, info.size
    if wanted is not None:
        status, first, length = 206, wanted.first, wanted.length
        headers["Content-Range"] = f"bytes {wanted.first}-{wanted.last}/{info.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers)
    try:
        stream = store.open_range(key, first, first + length - 1)
    except ObjectNotFound:
        raise _error(404, "not_found", "object not found") from None
    # Reading to the end closes the stream; the task closes one a client walked away from.
    return StreamingResponse(
        stream, status_code=status, headers=headers, background=BackgroundTask(stream.close)
    )


@router.options("/t/{token}/{key:path}", include_in_schema=False)
def preflight(token: str, key: str) -> Response:
    """CORS preflight of players that send `Range` from another origin."""
    headers = CORS_HEADERS | {
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "Range, If-None-Match, If-Range",
        "Access-Control-Max-Age": "86400",
    }
    return Response(status_code=204, headers=headers)
