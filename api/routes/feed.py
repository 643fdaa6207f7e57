"""The home feed, and videos similar to one.

A feed ranks the newest listable videos in three tiers, best first:

1. **for you**: the promoted recommendation model's picks for the viewer (or, for a viewer the
   model never saw, content-based picks from what they watched since);
2. **trending**: the latest daily trending ranking;
3. **recent**: everything else, by a "hot" score (comments, discounted by age).

A viewer unknown to the model with no history, or a deployment with no promoted model yet,
simply gets tiers 2 and 3. Finished videos are left out.

Paging is stable: the first page fixes a moment (`as_of`), a model version and a trending day
that the cursor carries; candidates and their comment counts are read as of that moment, the
model that ranked the first page ranks the next ones (while the API still holds it after a
promotion) and the same day's trending ranking applies, so every page ranks the same list the
same way and the cursor (tier, score, id) of the last item seen splits it without duplicates or
gaps.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import Annotated, NamedTuple
from uuid import UUID

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from fastapi import APIRouter, Query, Request

from api.access import visible_video_or_404
from api.deps import (
    CatalogDep,
    CurrentUser,
    HistoryProvider,
    LaggingReadsDep,
    OptionalUser,
    PublicReadsDep,
    RecommendationsDep,
    SettingsDep,
)
from api.errors import UNAUTHENTICATED, ApiError, error
from api.schemas.social import FeedItemPublic, FeedPublic, SimilarPublic
from ml.serving import ServedModel
from storage.catalog import FeedCandidate, Video, Visibility
from storage.history import HistoryEntry

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


# The model's picks head a feed, then the trending ones; past them come recent videos.
FOR_YOU_MAX = 30
TRENDING_MAX = 30
# What a similar-videos list may hold.
SIMILAR_MAX = 50


class Tier(IntEnum):
    """Why a video is in the feed; a higher tier ranks first."""

    RECENT = 0
    TRENDING = 1
    FOR_YOU = 2


REASONS = {Tier.FOR_YOU: "for_you", Tier.TRENDING: "trending", Tier.RECENT: "recent"}


class RankedVideo(NamedTuple):
    video_id: UUID
    tier: Tier
    score: float

    @property
    def key(self) -> tuple[int, float, UUID]:
        """Sort key of the feed: best tier, then best score first, ties by id."""
        return (-self.tier, -self.score, self.video_id)


def rank_feed(
    candidates: Sequence[FeedCandidate],
    as_of: datetime,
    *,
    for_you: Mapping[UUID, float] | None = None,
    trending: Mapping[UUID, float] | None = None,
) -> list[RankedVideo]:
    """Best first: the model's picks by their score, then trending videos by theirs, then the
    rest by the log of the comment count minus the age in units of RECENCY_SCALE.

    A pure function of its arguments, so pages of one feed always agree.
    """
    for_you, trending = for_you or {}, trending or {}
    scale_s = RECENCY_SCALE.total_seconds()
    ranked = []
    for video_id, published_at, comments in candidates:
        if video_id in for_you:
            ranked.append(RankedVideo(video_id, Tier.FOR_YOU, for_you[video_id]))
        elif video_id in trending:
            ranked.append(RankedVideo(video_id, Tier.TRENDING, trending[video_id]))
        else:
            age = (as_of - published_at).total_seconds() / scale_s
            ranked.append(RankedVideo(video_id, Tier.RECENT, math.log1p(comments) - age))
    # The key of `RankedVideo.key`, without a property call per item.
    ranked.sort(key=lambda item: (-item[1], -item[2], item[0]))
    return ranked


@dataclass(frozen=True)
class FeedCursor:
    as_of: datetime
    model_version: str | None
    # The trending ranking's day on the first page; None when there was none.
    trending_day: date | None
    tier: Tier
    score: float
    video_id: UUID

    def encode(self) -> str:
        raw = json.dumps(
            [
                self.as_of.isoformat(),
                self.model_version,
                self.trending_day.isoformat() if self.trending_day else None,
                int(self.tier),
                self.score,
                str(self.video_id),
            ]
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> FeedCursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            as_of, version, day, tier, score, video_id = json.loads(raw)
            if version is not None and not isinstance(version, str):
                raise TypeError("model version")
            cursor = cls(
                datetime.fromisoformat(as_of),
                version,
                None if day is None else date.fromisoformat(day),
                Tier(tier),
                float(score),
                UUID(video_id),
            )
        except (ValueError, TypeError, binascii.Error) as exc:
            raise ApiError(422, "invalid_cursor", "the cursor is not valid") from exc
        if cursor.as_of.tzinfo is None or not math.isfinite(cursor.score):
            raise ApiError(422, "invalid_cursor", "the cursor is not valid")
        return cursor

    @property
    def key(self) -> tuple[int, float, UUID]:
        return (-self.tier, -self.score, self.video_id)


@router.get(
    "/feed", response_model=FeedPublic, responses={401: UNAUTHENTICATED, 422: INVALID_CURSOR}
)
def feed(
    request: Request,
    user: CurrentUser,
    catalog: CatalogDep,
    recommendations: RecommendationsDep,
    settings: SettingsDep,
    reads: PublicReadsDep,
    lagging: LaggingReadsDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> FeedPublic:
    """Your feed: picks for you, then trending and recent videos you have not finished."""
    after = FeedCursor.decode(cursor) if cursor else None
    as_of, candidates = reads.feed_candidates(
        after.as_of if after else None,
        lambda: lagging.run(lambda c: c.database_now()) - SETTLE,
        lambda moment: lagging.run(lambda c: c.feed_candidates(moment, limit=FEED_CANDIDATES)),
    )
    served = recommendations.model(after.model_version if after else None)
    history = _history(request.app.state.history, user.id)
    finished = {entry.video_id for entry in history if entry.finished}
    for_you = _for_you(
        served,
        recommendations.viewer(user.id),
        history,
        lambda: [str(c.video_id) for c in candidates if c.video_id not in finished],
    )
    if after is None:
        ranking = reads.trending_ranking(
            None, lambda: lagging.run(lambda c: c.trending_ranking(TRENDING_MAX))
        )
        trending_day = ranking[0].day if ranking else None
    else:
        trending_day = after.trending_day
        ranking = (
            reads.trending_ranking(
                trending_day,
                lambda: lagging.run(lambda c: c.trending_ranking(TRENDING_MAX, day=trending_day)),
            )
            if trending_day
            else []
        )
    trending = {entry.video_id: entry.score for entry in ranking}
    ranked = rank_feed(candidates, as_of, for_you=for_you, trending=trending)
    if after is not None:
        ranked = [item for item in ranked if item.key > after.key]
    page = [item for item in ranked if item.video_id not in finished][: limit + 1]
    version = served.version if served else None
    next_cursor = None
    if len(page) > limit:
        page = page[:limit]
        last = page[-1]
        next_cursor = FeedCursor(
            as_of, version, trending_day, last.tier, last.score, last.video_id
        ).encode()
    # Read now: a video changed since `as_of` shows as it is, and one no longer listable not
    # at all (the cursor still pages past it).
    videos = catalog.get_videos(item.video_id for item in page)
    return FeedPublic(
        items=[
            FeedItemPublic.of(video, settings, reason=REASONS[item.tier], score=item.score)
            for item in page
            if (video := videos.get(item.video_id)) is not None and _listable(video)
        ],
        next_cursor=next_cursor,
        model_version=version,
    )


def _for_you(
    served: ServedModel | None,
    viewer: str,
    history: list[HistoryEntry],
    allowed_ids: Callable[[], list[str]],
) -> dict[UUID, float]:
    """The model's picks among `allowed_ids()`, by score; none without a model or any history."""
    if served is None:
        return {}
    allowed = allowed_ids()
    model = served.model
    if model.knows(viewer):
        picks = model.recommend(viewer, FOR_YOU_MAX, allowed=allowed)
    else:
        # Newer than the model: what they watched since says what they like.
        watched = {str(entry.video_id): 1.0 for entry in history}
        picks = model.recommend_from_history(watched, FOR_YOU_MAX, allowed=allowed)
    return {UUID(item): score for item, score in picks}


def _history(provider: HistoryProvider, user_id: UUID) -> list[HistoryEntry]:
    """The user's viewing history; empty while Cassandra is down, so the feed still works
    (with finished videos in it) instead of failing."""
    try:
        history = provider.get()
    except ApiError as exc:
        log.warning("feed without viewing history: %s", exc)
        return []
    try:
        entries = history.history(user_id)
    except (NoHostAvailable, DriverException) as exc:
        provider.breaker.failed(exc)
        log.warning("feed without viewing history: %s", exc)
        return []
    provider.breaker.succeeded()
    return entries


@router.get(
    "/{video_id}/similar", response_model=SimilarPublic, responses={404: error("No such video")}
)
def similar(
    video_id: UUID,
    user: OptionalUser,
    catalog: CatalogDep,
    recommendations: RecommendationsDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=SIMILAR_MAX)] = 10,
) -> SimilarPublic:
    """Videos like this one (item-item similarity of the promoted model), listable ones only."""
    visible_video_or_404(catalog, video_id, user)
    served = recommendations.model()
    if served is None:
        return SimilarPublic(items=[], model_version=None)
    # Asked for more than shown: some of the nearest may not be listable.
    nearest = served.model.similar(str(video_id), SIMILAR_MAX * 4)
    videos = catalog.get_videos(UUID(item) for item, _ in nearest)
    items = []
    for item, score in nearest:
        video = videos.get(UUID(item))
        if video is not None and _listable(video):
            items.append(FeedItemPublic.of(video, settings, reason="similar", score=score))
    return SimilarPublic(items=items[:limit], model_version=served.version)


def _listable(video: Video) -> bool:
    """Shown in lists: public or premium, published, not taken down (as feed candidates)."""
    return (
        video.visibility in (Visibility.PUBLIC, Visibility.PREMIUM)
        and video.published_version is not None
        and video.taken_down_at is None
    )
