"""Playback quality (QoE): batches of player events, stored in Cassandra for the daily job."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.access import visible_video_or_404
from api.deps import (
    CatalogDep,
    HistoryDep,
    LimiterDep,
    OptionalUser,
    PublicReadsDep,
    history_errors,
)
from api.errors import INVALID_BODY, UNAUTHENTICATED, error
from api.limits import RATE_LIMITED
from api.schemas.playback import PlaybackBatch, PlaybackReceipt
from api.sessions import client_address
from storage.playback import playback_log

router = APIRouter(prefix="/playback", tags=["playback"])

VIDEO_NOT_FOUND = error("An event names no video, or one the caller may not see")
HISTORY_UNAVAILABLE = error("Playback events (Cassandra) cannot be stored right now")


@router.post(
    "/events",
    status_code=202,
    response_model=PlaybackReceipt,
    responses={
        401: UNAUTHENTICATED,
        404: VIDEO_NOT_FOUND,
        422: INVALID_BODY,
        429: RATE_LIMITED,
        503: HISTORY_UNAVAILABLE,
    },
)
def report_playback(
    batch: PlaybackBatch,
    request: Request,
    user: OptionalUser,
    catalog: CatalogDep,
    history: HistoryDep,
    limiter: LimiterDep,
    reads: PublicReadsDep,
) -> PlaybackReceipt:
    """Record a batch of player quality events; anonymous players may send them too."""
    limiter.check(
        "playback", address=client_address(request), account=None if user is None else str(user.id)
    )
    # Seeing the video is enough: a player refused playback still reports that failure, and
    # the batch sent while the page unloads (a beacon) carries no token.
    for video_id in dict.fromkeys(event.video_id for event in batch.events):
        visible_video_or_404(catalog, video_id, user, reads)
    events = batch.to_events()
    with history_errors():
        stored = playback_log(history).record(events)
    return PlaybackReceipt(events=stored, sessions=len({e.session_id for e in events}))
