"""Schemas of watching, the feed, search and comments."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator

from api.schemas import StorableRequest
from api.signing import signed_poster_url
from reelflow.settings import Settings
from storage.catalog import Video, Visibility
from storage.history import POSITION_TOLERANCE_S, HistoryEntry, Progress

MAX_COMMENT_TEXT = 2000


class VideoCardPublic(BaseModel):
    """What a list of videos shows of each one."""

    id: UUID
    title: str
    tags: list[str]
    thumbnail_url: str | None
    duration_s: float | None
    visibility: Visibility
    uploaded_by_user_id: UUID
    published_at: datetime | None

    @classmethod
    def of(cls, video: Video, settings: Settings) -> VideoCardPublic:
        """The card of `video`, its poster URL signed for the CDN."""
        return cls(
            id=video.id,
            title=video.title,
            tags=list(video.tags),
            thumbnail_url=signed_poster_url(
                settings, video.thumbnail_url, rights=video.rights_version
            ),
            duration_s=video.duration_s,
            visibility=video.visibility,
            uploaded_by_user_id=video.uploaded_by_user_id,
            published_at=video.published_at,
        )


class WatchReport(StorableRequest):
    """One player report: where playback is and how much was played since the last report."""

    position_s: float = Field(ge=0, allow_inf_nan=False)
    duration_s: float = Field(gt=0, allow_inf_nan=False)
    watched_delta_s: float = Field(
        ge=0, allow_inf_nan=False, description="seconds played since this session's last report"
    )
    session_id: UUID
    event_type: Literal["progress", "pause", "ended"]
    client: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _within_the_video(self) -> WatchReport:
        if self.position_s > self.duration_s + POSITION_TOLERANCE_S:
            raise ValueError("position_s is past the end of the video")
        # Between two reports of one session a player cannot play more than the whole video;
        # a larger delta would inflate watch time, which feeds the engagement figures.
        if self.watched_delta_s > self.duration_s:
            raise ValueError("watched_delta_s is longer than the video")
        return self


class ProgressPublic(BaseModel):
    video_id: UUID
    position_s: float
    duration_s: float
    watched_s: float
    finished: bool
    last_watched_at: datetime

    @classmethod
    def of(cls, progress: Progress) -> ProgressPublic:
        return cls(
            video_id=progress.video_id,
            position_s=progress.position_s,
            duration_s=progress.duration_s,
            watched_s=progress.watched_s,
            finished=progress.finished,
            last_watched_at=progress.last_watched_at,
        )


class HistoryItemPublic(BaseModel):
    """A video to continue watching, and where to resume it."""

    video: VideoCardPublic
    position_s: float
    duration_s: float
    last_watched_at: datetime

    @classmethod
    def of(cls, entry: HistoryEntry, video: Video, settings: Settings) -> HistoryItemPublic:
        return cls(
            video=VideoCardPublic.of(video, settings),
            position_s=entry.position_s,
            duration_s=entry.duration_s,
            last_watched_at=entry.last_watched_at,
        )


class HistoryPublic(BaseModel):
    items: list[HistoryItemPublic]


class FeedItemPublic(VideoCardPublic):
    """A video in a feed or a similar-videos list, with why it is there."""

    reason: Literal["for_you", "trending", "recent", "similar"]
    score: float = Field(description="rank score within its reason; higher ranks first")

    @classmethod
    def of(  # type: ignore[override]
        cls, video: Video, settings: Settings, *, reason: str, score: float
    ) -> FeedItemPublic:
        card = VideoCardPublic.of(video, settings)
        return cls.model_validate({**card.model_dump(), "reason": reason, "score": score})


class FeedPublic(BaseModel):
    items: list[FeedItemPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: end")
    model_version: str | None = Field(
        description="the recommendation model that ranked this feed; null: none promoted yet"
    )


class SimilarPublic(BaseModel):
    items: list[FeedItemPublic]
    model_version: str | None


class SearchResultsPublic(BaseModel):
    items: list[VideoCardPublic]
    page: int
    page_size: int
    has_more: bool


class CommentCreate(StorableRequest):
    text: str = Field(min_length=1, max_length=MAX_COMMENT_TEXT)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("a comment needs some text")
        return text


class CommentPublic(BaseModel):
    id: UUID
    video_id: UUID
    author_id: UUID | None = Field(description="null once the author's account is erased")
    text: str
    created_at: datetime


class CommentsPublic(BaseModel):
    items: list[CommentPublic]
    next_cursor: str | None = Field(description="pass as `cursor` for older comments; null: end")
