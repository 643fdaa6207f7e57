"""The home feed: recent and popular videos the caller has not finished.

Until the recommendation model lands, `rank_feed` orders a fixed candidate set by a "hot"
score (comments, discounted by age); the model replaces that one function.

Paging is stable: the first page fixes a moment (`as_of`) that the cursor carries, candidates
and their comment counts are read as of that moment, so every page ranks the same list the
same way and the cursor (score, id) of the last item seen splits it without duplicates or
gaps. Videos that become unlistable or finished meanwhile drop out; they never shift others.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from fastapi import APIRouter, Query, Request

from api.deps import CatalogDep, CurrentUser, HistoryProvider
from api.errors import ApiError
from api.routes.auth import UNAUTHENTICATED, error
from api.schemas.social import FeedPublic, VideoCardPublic
from storage.catalog import Video

log = logging.getLogger(__name__)

router = APIRouter(prefix="/videos", tags=["feed"])

INVALID_CURSOR = error("The cursor is not one this feed handed out")
# The newest videos a feed ranks; older ones are reached through search.
FEED_CANDIDATES = 1000
# A video one day older needs e (2.7) times the comments to rank level with a newer one.
RECENCY_SCALE = timedelta(days=1)
# `as_of` lags the database clock a little: a comment whose transaction is still open has a
# created_at before now() but is not visible yet, and must not be counted on a later page only.
# Catalog transactions take milliseconds; new videos reach the feed this much later.
SETTLE = timedelta(seconds=2)


@dataclass(frozen=True)
class RankedVideo:
    video: Video
    score: float

    @property
    def key(self) -> tuple[float, UUID]:
        """Sort key of the feed: best score first, ties by id."""
        return (-self.score, self.video.id)


def rank_feed(candidates: Sequence[tuple[Video, int]], as_of: datetime) -> list[RankedVideo]:
    """Best first: log of the comment count, minus the age in units of RECENCY_SCALE.

    A pure function of the candidates and `as_of`, so pages of one feed always agree.
    """
    ranked = []
    for video, comments in candidates:
        published = video.published_at or as_of
        age = (as_of - published) / RECENCY_SCALE
        ranked.append(RankedVideo(video, math.log1p(comments) - age))
    return sorted(ranked, key=lambda item: item.key)


@dataclass(frozen=True)
class FeedCursor:
    as_of: datetime
    score: float
    video_id: UUID

    def encode(self) -> str:
        raw = json.dumps([self.as_of.isoformat(), self.score, str(self.video_id)])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> FeedCursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            as_of, score, video_id = json.loads(raw)
            cursor = cls(datetime.fromisoformat(as_of), float(score), UUID(video_id))
        except (ValueError, TypeError, binascii.Error) as exc:
            raise ApiError(422, "invalid_cursor", "the cursor is not valid") from exc
        if cursor.as_of.tzinfo is None or not math.isfinite(cursor.score):
            raise ApiError(422, "invalid_cursor", "the cursor is not valid")
        return cursor


@router.get(
    "/feed", response_model=FeedPublic, responses={401: UNAUTHENTICATED, 422: INVALID_CURSOR}
)
def feed(
    request: Request,
    user: CurrentUser,
    catalog: CatalogDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> FeedPublic:
    """Your feed: recent and popular videos you have not finished, best first."""
    after = FeedCursor.decode(cursor) if cursor else None
    as_of = after.as_of if after else catalog.database_now() - SETTLE
    ranked = rank_feed(catalog.list_feed_candidates(as_of, limit=FEED_CANDIDATES), as_of)
    if after is not None:
        ranked = [item for item in ranked if item.key > (-after.score, after.video_id)]
    finished = _finished_videos(request.app.state.history, user.id)
    page = [item for item in ranked if item.video.id not in finished][: limit + 1]
    next_cursor = None
    if len(page) > limit:
        page = page[:limit]
        last = page[-1]
        next_cursor = FeedCursor(as_of, last.score, last.video.id).encode()
    return FeedPublic(
        items=[VideoCardPublic.of(item.video) for item in page], next_cursor=next_cursor
    )


def _finished_videos(provider: HistoryProvider, user_id: UUID) -> set[UUID]:
    """The videos the user has finished; none while Cassandra is down, so the feed still works
    (with finished videos in it) instead of failing."""
    try:
        entries = provider.get().history(user_id)
    except (ApiError, NoHostAvailable, DriverException) as exc:
        log.warning("feed without viewing history: %s", exc)
        return set()
    return {entry.video_id for entry in entries if entry.finished}
