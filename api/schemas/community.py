"""Schemas of ratings and playlists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas import StorableRequest
from api.schemas.social import VideoCardPublic
from storage.catalog import PlaylistKind, PlaylistVisibility

# The catalog's own limits (playlists_title_check, playlists_description_check).
PLAYLIST_TITLE_MAX_CHARS = 200
PLAYLIST_DESCRIPTION_MAX_CHARS = 5000

RatingValue = Literal["like", "dislike"]
PlaylistTitle = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=PLAYLIST_TITLE_MAX_CHARS)
]
PlaylistDescription = Annotated[str, Field(max_length=PLAYLIST_DESCRIPTION_MAX_CHARS)]


class _Request(StorableRequest):
    model_config = ConfigDict(extra="forbid")


class RatingUpdate(_Request):
    value: RatingValue


class RatingPublic(BaseModel):
    """The caller's rating of a video (null: none) and the video's counts."""

    video_id: UUID
    value: RatingValue | None
    likes: int
    dislikes: int


class PlaylistCreate(_Request):
    title: PlaylistTitle
    description: PlaylistDescription = ""
    visibility: PlaylistVisibility = PlaylistVisibility.PRIVATE


class PlaylistUpdate(_Request):
    """Fields to change; leave a field out (or null) to keep it."""

    title: PlaylistTitle | None = None
    description: PlaylistDescription | None = None
    visibility: PlaylistVisibility | None = None


class PlaylistItemCreate(_Request):
    video_id: UUID
    position: int | None = Field(
        default=None, ge=0, description="where to insert (0: first); left out: at the end"
    )


class PlaylistItemMove(_Request):
    position: int = Field(ge=0, description="the new position, 0 first; past the end: last")


class PlaylistPublic(BaseModel):
    """A list without its items; `item_count` counts the items whose videos the reader may see
    when the list is read whole, and every item in the owner's own listing."""

    id: UUID
    owner_id: UUID
    kind: PlaylistKind
    title: str
    description: str
    visibility: PlaylistVisibility
    item_count: int
    created_at: datetime
    updated_at: datetime


class PlaylistsPublic(BaseModel):
    items: list[PlaylistPublic]
    page: int
    page_size: int
    has_more: bool


class PlaylistItemPublic(BaseModel):
    position: int
    added_at: datetime
    video: VideoCardPublic


class PlaylistItemsPublic(BaseModel):
    """A page of a list's items the reader may see, in the list's order."""

    playlist: PlaylistPublic
    items: list[PlaylistItemPublic]
    page: int
    page_size: int
    has_more: bool


class RatingExport(BaseModel):
    video_id: UUID
    value: RatingValue
    rated_at: datetime


class PlaylistItemPlace(BaseModel):
    """Where a video sits in a list."""

    video_id: UUID
    position: int
    added_at: datetime


class PlaylistExport(BaseModel):
    id: UUID
    kind: PlaylistKind
    title: str
    description: str
    visibility: PlaylistVisibility
    created_at: datetime
    items: list[PlaylistItemPlace]
