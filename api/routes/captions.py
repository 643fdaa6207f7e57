"""Caption tracks of a video: one WebVTT per language, uploaded as WebVTT or SRT.

A track is checked and normalised (`media.captions`) before anything is stored: a file that
cannot be used is refused with the line at fault and the stored track stays as it was. The
normalised file goes to the object store beside the video's sources, the catalog row records
it. Every media run packages the tracks it finds; a change to a video already published (or
being processed) is handed to the Dagster webserver at once (`MediaRuns.update_captions`),
whose `caption_update` run publishes a new version from the published one without encoding
it again. With no webserver configured or
reachable, the change reaches viewers with the video's next media run.
"""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api import access
from api.deps import CatalogDep, CurrentUser, MediaRunsDep, OptionalUser, StoreDep
from api.errors import UNAUTHENTICATED, ApiError, error
from api.schemas.captions import CaptionPublic
from media import captions as media_captions
from reelflow import layout
from storage.catalog import Caption, EncodingStatus, Video

router = APIRouter(prefix="/videos", tags=["captions"])

# The catalog's own rule (video_captions_language_check).
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
LABEL_MAX_CHARS = 100
# Labels for the languages most captions come in; others default to their tag.
LANGUAGE_NAMES = {
    "ar": "العربية",
    "de": "Deutsch",
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "hi": "हिन्दी",
    "it": "Italiano",
    "ja": "日本語",
    "ko": "한국어",
    "nl": "Nederlands",
    "pl": "Polski",
    "pt": "Português",
    "ru": "Русский",
    "sv": "Svenska",
    "tr": "Türkçe",
    "uk": "Українська",
    "zh": "中文",
}

Language = Annotated[str, Path(pattern=LANGUAGE_PATTERN, max_length=35)]
VIDEO_NOT_FOUND = error("No such video, or the caller may not see it")
NOT_MANAGER = error("Only the video's owner or an admin may change its captions")


def canonical_language(tag: str) -> str:
    """A BCP 47 tag in its usual case (`pt-BR`, `zh-Hant`), so one language has one track."""
    first, *rest = tag.split("-")
    parts = [first.lower()]
    for part in rest:
        if len(part) == 4 and part.isalpha():
            parts.append(part.title())
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            parts.append(part.upper())
        else:
            parts.append(part.lower())
    return "-".join(parts)


def default_label(language: str) -> str:
    name = LANGUAGE_NAMES.get(language.split("-")[0])
    if name is None:
        return language
    region = language.split("-", 1)[1] if "-" in language else ""
    return f"{name} ({region})" if region else name


def _public(row: Caption) -> CaptionPublic:
    return CaptionPublic(
        language=row.language,
        label=row.label,
        cues=row.cues,
        revision=row.revision,
        updated_at=row.updated_at,
    )


def _label(query: str | None, header: str | None, language: str) -> str:
    label = (query if query is not None else header or "").strip()
    if not label:
        return default_label(language)
    if len(label) > LABEL_MAX_CHARS or re.search(r"[\x00-\x1f\x7f]", label):
        raise ApiError(
            422,
            "invalid_label",
            f"a label is 1 to {LABEL_MAX_CHARS} characters, without control characters",
        )
    return label


def _packaged(video: Video) -> bool:
    """Whether a change must be packaged by a run of its own: the video is published, or its
    media run may have packaged the captions already (the run queue starts the update after it,
    never beside it). A video not processed yet gets its captions from its first run."""
    return video.published_version is not None or video.encoding_status == EncodingStatus.PROCESSING


def _managed(catalog: CatalogDep, video_id: UUID, user: CurrentUser) -> Video:
    video = access.visible_video_or_404(catalog, video_id, user)
    access.require_manage(video, user)
    return video


@router.get(
    "/{video_id:uuid}/captions",
    response_model=list[CaptionPublic],
    responses={
        401: UNAUTHENTICATED,
        403: error("The caller may not play the video"),
        404: VIDEO_NOT_FOUND,
    },
)
def list_captions(video_id: UUID, user: OptionalUser, catalog: CatalogDep) -> list[CaptionPublic]:
    """The video's caption tracks, for anyone who may watch it."""
    video = access.visible_video_or_404(catalog, video_id, user)
    access.require_playback(video, user)
    return [_public(row) for row in catalog.list_captions(video.id)]


@router.put(
    "/{video_id:uuid}/captions/{language}",
    response_model=CaptionPublic,
    responses={
        201: {"model": CaptionPublic, "description": "The track was added"},
        401: UNAUTHENTICATED,
        403: NOT_MANAGER,
        404: VIDEO_NOT_FOUND,
        413: error("The file is larger than the caption size limit"),
        422: error(
            "The file is not WebVTT or SRT, a line of it is wrong (`details`: `line`,"
            " `reason`), a cue starts after the video ends, or the label is not valid"
        ),
    },
)
async def put_caption(
    video_id: UUID,
    language: Language,
    request: Request,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    media_runs: MediaRunsDep,
    background: BackgroundTasks,
    label: Annotated[str | None, Query(max_length=LABEL_MAX_CHARS)] = None,
    x_caption_label: Annotated[str | None, Header(max_length=LABEL_MAX_CHARS)] = None,
) -> Response:
    """Add or replace a language's captions: the body is a WebVTT or SRT file (owner, admin)."""
    video = await run_in_threadpool(_managed, catalog, video_id, user)
    language = canonical_language(language)
    name = _label(label, x_caption_label, language)
    data = await _body(request)
    try:
        track = media_captions.parse_captions(data, video.duration_s)
    except media_captions.CaptionError as exc:
        raise ApiError(
            422,
            "invalid_captions",
            str(exc),
            details=[{"line": exc.line, "reason": exc.reason}],
        ) from None
    key = layout.captions_key(video.id, language)
    await run_in_threadpool(store.put_bytes, key, track.webvtt.encode(), "text/vtt; charset=utf-8")
    row = await run_in_threadpool(
        catalog.put_caption, video.id, language, name, key, len(track.cues)
    )
    if _packaged(video):
        background.add_task(media_runs.update_captions, video.id)
    return Response(
        _public(row).model_dump_json(),
        status_code=201 if row.revision == 1 else 200,
        media_type="application/json",
    )


async def _body(request: Request) -> bytes:
    """The body, refused as soon as it outgrows the caption size limit."""
    limit = media_captions.MAX_CAPTION_BYTES
    received = bytearray()
    async for piece in request.stream():
        received += piece
        if len(received) > limit:
            raise ApiError(413, "payload_too_large", f"a caption file is at most {limit} bytes")
    return bytes(received)


@router.delete(
    "/{video_id:uuid}/captions/{language}",
    status_code=204,
    responses={
        401: UNAUTHENTICATED,
        403: NOT_MANAGER,
        404: error("No such video or no captions in that language"),
    },
)
def delete_caption(
    video_id: UUID,
    language: Language,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    media_runs: MediaRunsDep,
    background: BackgroundTasks,
) -> Response:
    """Remove a language's captions (owner, admin)."""
    video = _managed(catalog, video_id, user)
    row = catalog.delete_caption(video.id, canonical_language(language))
    store.delete(row.object_key)
    if _packaged(video):
        background.add_task(media_runs.update_captions, video.id)
    return Response(status_code=204)
