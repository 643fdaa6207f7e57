"""Watching: player progress reports and the "continue watching" list (Cassandra)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request

from api.access import can_see, require_playback, visible_video_or_404
from api.deps import (
    CatalogDep,
    CurrentUser,
    HistoryDep,
    LimiterDep,
    PublicReadsDep,
    SettingsDep,
    history_errors,
)
from api.errors import INVALID_BODY, UNAUTHENTICATED, ApiError, error
from api.limits import RATE_LIMITED
from api.schemas.social import HistoryItemPublic, HistoryPublic, ProgressPublic, WatchReport
from api.sessions import client_address

router = APIRouter(tags=["watching"])

HISTORY_UNAVAILABLE = error("Viewing history (Cassandra) cannot be reached right now")
VIDEO_NOT_FOUND = error("No such video, or the caller may not see it")
NOT_PLAYABLE = error("The caller may see the video but not play it (premium, taken down)")
# The fastest playback speed the player offers: watch time grows at most this much faster
# than the clock between two reports.
MAX_PLAYBACK_RATE = 2.0
# "Continue watching" drops videos the caller may no longer see, so it reads a few more
# entries than it shows.
HISTORY_OVERFETCH = 2


@router.post(
    "/videos/{video_id}/watch",
    response_model=ProgressPublic,
    responses={
        401: UNAUTHENTICATED,
        403: NOT_PLAYABLE,
        404: VIDEO_NOT_FOUND,
        422: INVALID_BODY,
        429: RATE_LIMITED,
        503: HISTORY_UNAVAILABLE,
    },
)
def report_watch(
    video_id: UUID,
    report: WatchReport,
    request: Request,
    user: CurrentUser,
    catalog: CatalogDep,
    history: HistoryDep,
    limiter: LimiterDep,
    reads: PublicReadsDep,
) -> ProgressPublic:
    """Record a player report: resume position, watch time and the raw watch event."""
    limiter.check("watch", address=client_address(request), account=str(user.id))
    video = visible_video_or_404(catalog, video_id, user, reads)
    # Reports count as engagement, so only someone who may play the video can send them.
    require_playback(video, user)
    # The catalog knows how long the video is: a client cannot make it longer, nor play more
    # of it between two reports than it lasts.
    duration_s = video.duration_s or report.duration_s
    with history_errors():
        try:
            progress = history.record_watch(
                user.id,
                video.id,
                min(report.position_s, duration_s),
                duration_s,
                watched_delta_s=min(report.watched_delta_s, duration_s),
                session_id=report.session_id,
                event_type=report.event_type,
                client=report.client,
                max_rate=MAX_PLAYBACK_RATE,
            )
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
    return ProgressPublic.of(progress)


@router.get(
    "/users/me/history",
    response_model=HistoryPublic,
    responses={401: UNAUTHENTICATED, 503: HISTORY_UNAVAILABLE},
)
def continue_watching(
    user: CurrentUser,
    catalog: CatalogDep,
    history: HistoryDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> HistoryPublic:
    """Continue watching: your unfinished videos, most recently watched first."""
    with history_errors():
        entries = history.continue_watching(user.id, limit=limit * HISTORY_OVERFETCH)
    videos = catalog.get_videos(entry.video_id for entry in entries)
    items = [
        HistoryItemPublic.of(entry, videos[entry.video_id], settings)
        for entry in entries
        if entry.video_id in videos and can_see(videos[entry.video_id], user)
    ]
    return HistoryPublic(items=items[:limit])
