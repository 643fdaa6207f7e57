"""Creator and analyst dashboards: a video's or a channel's daily figures over a range of days.

The figures come from the daily Parquet datasets (`storage.analytics`); a day the pipeline has
not aggregated yet is listed in `days_missing`, never an error. Creators see their own videos
and channel, admins every one and the platform-wide playback quality.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api import access
from api.deps import AdminUser, CatalogDep, CurrentUser, PublicReadsDep, StoreDep
from api.errors import UNAUTHENTICATED, ApiError, error
from api.public_reads import PublicReads
from storage.analytics import MAX_RANGE_DAYS, InvalidRange, Report, scope_report
from storage.catalog import Catalog, Role, User, Video

router = APIRouter(prefix="/analytics", tags=["analytics"])

VIDEO_NOT_FOUND = error("No such video, or the caller may not see it")
NOT_OWNER = error("Only the video's owner or an admin may see its figures")
NOT_CHANNEL_OWNER = error("Only the channel's creator or an admin may see its figures")
BAD_RANGE = error(
    f"`from` or `to` missing or not a date (`invalid_request`), `from` after `to`"
    f" (`invalid_range`), or more than {MAX_RANGE_DAYS} days (`range_too_long`)"
)
# Listing pages of a channel's videos: a channel of any size is read whole.
_CHANNEL_PAGE = 500

From = Annotated[date, Query(alias="from", description="First UTC day, included")]
To = Annotated[date, Query(alias="to", description="Last UTC day, included")]


class DayFiguresPublic(BaseModel):
    """One UTC day; null where that day's dataset has no partition (or nothing to average)."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    views: int | None
    unique_viewers: int | None
    watched_s: float | None
    avg_completion: float | None
    likes: int | None
    dislikes: int | None
    likes_added: int | None
    dislikes_added: int | None
    playlist_adds: int | None
    plays: int | None
    video_start_failures: int | None
    exits_before_start: int | None
    rendition_switches: int | None
    ttff_median_ms: float | None
    ttff_p95_ms: float | None
    rebuffer_ratio: float | None
    avg_bitrate_kbps: float | None


class TotalsPublic(BaseModel):
    """The range's figures over the days present (docs/analytics.md: how each is made)."""

    model_config = ConfigDict(from_attributes=True)

    views: int
    unique_viewers_summed: int = Field(
        description="Sum of the daily unique viewers: not distinct people over the range"
    )
    watched_s: float
    avg_completion: float | None
    likes: int | None = Field(description="Likes at the end of `ratings_as_of`")
    dislikes: int | None
    ratings_as_of: date | None
    likes_added: int
    dislikes_added: int
    playlist_adds: int
    plays: int
    video_start_failures: int
    exits_before_start: int
    rendition_switches: int
    ttff_median_ms: float | None
    ttff_p95_ms: float | None
    rebuffer_ratio: float | None
    avg_bitrate_kbps: float | None


class AnalyticsVideoPublic(BaseModel):
    id: UUID
    title: str


class AnalyticsPublic(BaseModel):
    scope: Literal["video", "channel", "overall"]
    video_id: UUID | None = None
    creator_id: UUID | None = None
    videos: list[AnalyticsVideoPublic] = Field(description="The videos the figures cover")
    from_day: date = Field(serialization_alias="from")
    to_day: date = Field(serialization_alias="to")
    days: list[DayFiguresPublic]
    totals: TotalsPublic
    days_missing: dict[str, list[date]] = Field(
        description="Per dataset, the days of the range it has no partition for yet"
    )


def _report(store: StoreDep, video_ids: list[str] | None, first: date, last: date) -> Report:
    try:
        return scope_report(store, video_ids, first, last)
    except InvalidRange as exc:
        raise ApiError(422, exc.code, str(exc)) from None


def _shared(
    reads: PublicReads, scope: str, first: date, last: date, load: Callable[[], AnalyticsPublic]
) -> AnalyticsPublic:
    """The answer for `scope` and the range, shared by the API's workers for a short while:
    a long range reads hundreds of objects, and a dashboard asks again on every change of
    chart. Only callers already allowed to see the scope get here."""
    return reads.model("analytics", f"{scope}:{first}:{last}", load, AnalyticsPublic)


def _public(
    report: Report,
    scope: Literal["video", "channel", "overall"],
    videos: list[Video],
    **ids: UUID,
) -> AnalyticsPublic:
    return AnalyticsPublic(
        scope=scope,
        videos=[AnalyticsVideoPublic(id=video.id, title=video.title) for video in videos],
        from_day=report.first,
        to_day=report.last,
        days=[DayFiguresPublic.model_validate(day) for day in report.days],
        totals=TotalsPublic.model_validate(report.totals),
        days_missing=report.days_missing,
        **ids,
    )


def _channel(
    creator_id: UUID,
    user: User,
    catalog: Catalog,
    store: StoreDep,
    reads: PublicReads,
    first: date,
    last: date,
) -> AnalyticsPublic:
    if not access.is_admin(user):
        if creator_id != user.id:
            raise ApiError(403, "forbidden", "only the channel's creator or an admin may see it")
        if user.role != Role.CREATOR:
            raise ApiError(403, "creators_only", "only creator accounts have a channel")
    else:
        catalog.get_user(creator_id)

    def load() -> AnalyticsPublic:
        videos: list[Video] = []
        while True:
            page = catalog.list_videos_by_user(creator_id, limit=_CHANNEL_PAGE, offset=len(videos))
            videos.extend(page)
            if len(page) < _CHANNEL_PAGE:
                break
        report = _report(store, [str(video.id) for video in videos], first, last)
        return _public(report, "channel", videos, creator_id=creator_id)

    return _shared(reads, f"channel:{creator_id}", first, last, load)


@router.get(
    "/videos/{video_id:uuid}",
    response_model=AnalyticsPublic,
    responses={401: UNAUTHENTICATED, 403: NOT_OWNER, 404: VIDEO_NOT_FOUND, 422: BAD_RANGE},
)
def video_analytics(
    video_id: UUID,
    first: From,
    last: To,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    reads: PublicReadsDep,
) -> AnalyticsPublic:
    """A video's daily figures and totals over a range of days (its owner or an admin)."""
    video = access.visible_video_or_404(catalog, video_id, user)
    if not (access.is_owner(video, user) or access.is_admin(user)):
        raise ApiError(403, "forbidden", "only the video's owner or an admin may see its figures")

    def load() -> AnalyticsPublic:
        report = _report(store, [str(video.id)], first, last)
        return _public(report, "video", [video], video_id=video.id)

    return _shared(reads, f"video:{video.id}", first, last, load)


@router.get(
    "/channels/me",
    response_model=AnalyticsPublic,
    responses={401: UNAUTHENTICATED, 403: NOT_CHANNEL_OWNER, 422: BAD_RANGE},
)
def my_channel_analytics(
    first: From,
    last: To,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    reads: PublicReadsDep,
) -> AnalyticsPublic:
    """Your channel's daily figures and totals over a range of days, with its videos."""
    return _channel(user.id, user, catalog, store, reads, first, last)


@router.get(
    "/channels/{creator_id:uuid}",
    response_model=AnalyticsPublic,
    responses={
        401: UNAUTHENTICATED,
        403: NOT_CHANNEL_OWNER,
        404: error("No such user (asked by an admin)"),
        422: BAD_RANGE,
    },
)
def channel_analytics(
    creator_id: UUID,
    first: From,
    last: To,
    user: CurrentUser,
    catalog: CatalogDep,
    store: StoreDep,
    reads: PublicReadsDep,
) -> AnalyticsPublic:
    """A creator's channel: daily figures and totals over a range of days (creator or admin)."""
    return _channel(creator_id, user, catalog, store, reads, first, last)


@router.get(
    "/overview",
    response_model=AnalyticsPublic,
    responses={401: UNAUTHENTICATED, 403: error("Administrators only"), 422: BAD_RANGE},
)
def overview(
    first: From, last: To, admin: AdminUser, store: StoreDep, reads: PublicReadsDep
) -> AnalyticsPublic:
    """Every video's figures with the platform-wide playback quality (admins)."""

    def load() -> AnalyticsPublic:
        return _public(_report(store, None, first, last), "overall", [])

    return _shared(reads, "overall", first, last, load)
