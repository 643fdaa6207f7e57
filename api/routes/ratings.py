"""Ratings: a signed-in viewer likes or dislikes a video they may play, reads and takes back
their own rating. Counts are public with the video's metadata."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request

from api.access import require_playback, visible_video_or_404
from api.deps import CatalogDep, CurrentUser, LimiterDep
from api.errors import INVALID_BODY, UNAUTHENTICATED, error
from api.limits import RATE_LIMITED
from api.schemas.community import RatingPublic, RatingUpdate, RatingValue
from api.sessions import client_address
from storage.catalog import Catalog, Rating
from storage.catalog.ratings import DISLIKE, LIKE

router = APIRouter(prefix="/videos/{video_id}/rating", tags=["ratings"])

VIDEO_NOT_FOUND = error("No such video, or the caller may not see it")
NOT_PLAYABLE = error("The video was taken down, or playing it needs an active subscription")

VALUES: dict[RatingValue, int] = {"like": LIKE, "dislike": DISLIKE}
NAMES: dict[int, RatingValue] = {number: name for name, number in VALUES.items()}


def _public(catalog: Catalog, video_id: UUID, rating: Rating | None) -> RatingPublic:
    counts = catalog.rating_counts(video_id)
    return RatingPublic(
        video_id=video_id,
        value=NAMES[rating.value] if rating else None,
        likes=counts.likes,
        dislikes=counts.dislikes,
    )


@router.get("", response_model=RatingPublic, responses={401: UNAUTHENTICATED, 404: VIDEO_NOT_FOUND})
def read_rating(video_id: UUID, catalog: CatalogDep, user: CurrentUser) -> RatingPublic:
    """Your rating of a video (null: none) and its like and dislike counts."""
    video = visible_video_or_404(catalog, video_id, user)
    return _public(catalog, video.id, catalog.get_rating(user.id, video.id))


@router.put(
    "",
    response_model=RatingPublic,
    responses={
        401: UNAUTHENTICATED,
        403: NOT_PLAYABLE,
        404: VIDEO_NOT_FOUND,
        422: INVALID_BODY,
        429: RATE_LIMITED,
    },
)
def rate_video(
    video_id: UUID,
    body: RatingUpdate,
    request: Request,
    catalog: CatalogDep,
    user: CurrentUser,
    limiter: LimiterDep,
) -> RatingPublic:
    """Like or dislike a video you may play; rating it again replaces your rating."""
    video = visible_video_or_404(catalog, video_id, user)
    # Only viewers who can watch it rate it: a premium video's ratings are its audience's.
    require_playback(video, user)
    limiter.check("community", address=client_address(request), account=str(user.id))
    rating = catalog.rate_video(user.id, video.id, VALUES[body.value])
    return _public(catalog, video.id, rating)


@router.delete(
    "",
    response_model=RatingPublic,
    responses={401: UNAUTHENTICATED, 404: VIDEO_NOT_FOUND, 429: RATE_LIMITED},
)
def unrate_video(
    video_id: UUID, request: Request, catalog: CatalogDep, user: CurrentUser, limiter: LimiterDep
) -> RatingPublic:
    """Take back your rating of a video (nothing happens if there is none)."""
    video = visible_video_or_404(catalog, video_id, user)
    limiter.check("community", address=client_address(request), account=str(user.id))
    catalog.unrate_video(user.id, video.id)
    return _public(catalog, video.id, None)
