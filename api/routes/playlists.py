"""Playlists: a signed-in viewer's ordered lists of videos, and their watch-later list.

Only a list's owner changes it. A public list is readable by anyone, signed in or not; a private
one answers 404 to everyone but its owner, like a list that does not exist. A reader sees only
the items whose videos they may see themselves: a list never shows a private video to someone
its owner could share the list with.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from api.access import can_see, visible_video_or_404
from api.deps import CatalogDep, CurrentUser, LimiterDep, OptionalUser, SettingsDep
from api.errors import INVALID_BODY, UNAUTHENTICATED, ApiError, error, not_found
from api.limits import RATE_LIMITED
from api.schemas.community import (
    PlaylistCreate,
    PlaylistItemCreate,
    PlaylistItemMove,
    PlaylistItemPlace,
    PlaylistItemPublic,
    PlaylistItemsPublic,
    PlaylistPublic,
    PlaylistsPublic,
    PlaylistUpdate,
)
from api.schemas.social import VideoCardPublic
from api.sessions import client_address
from reelflow.settings import Settings
from storage.catalog import (
    Catalog,
    NotFound,
    Playlist,
    PlaylistItem,
    PlaylistKind,
    PlaylistVisibility,
    User,
)
from storage.catalog.playlists import AlreadyInPlaylist, PlaylistFull

router = APIRouter(prefix="/playlists", tags=["playlists"])
me_router = APIRouter(prefix="/users/me", tags=["playlists"])

PLAYLIST_NOT_FOUND = error("No such playlist, or it is private and not the caller's")
NOT_OWNER = error("Only the playlist's owner may change it")
ITEM_NOT_FOUND = error("No such playlist, or the video is not in it")
VIDEO_NOT_FOUND = error("No such playlist or video, or the caller may not see them")
ITEM_CONFLICT = error("The video is in the list already, or the list is full")
WATCH_LATER_FIXED = error("The watch-later list cannot be renamed, shared or deleted")

Page = Annotated[int, Query(ge=1, le=1000)]
PageSize = Annotated[int, Query(ge=1, le=100)]


def _public(playlist: Playlist) -> PlaylistPublic:
    return PlaylistPublic.model_validate(playlist.model_dump())


def _readable(catalog: Catalog, playlist_id: UUID, user: User | None) -> Playlist:
    """The list if the caller may read it; the same 404 whether it is private or missing."""
    try:
        playlist = catalog.get_playlist(playlist_id)
    except NotFound:
        raise not_found("playlist") from None
    mine = user is not None and playlist.owner_id == user.id
    if not mine and playlist.visibility != PlaylistVisibility.PUBLIC:
        raise not_found("playlist")
    return playlist


def _owned(catalog: Catalog, playlist_id: UUID, user: User) -> Playlist:
    """The caller's own list: 403 on someone else's public list, 404 on a private one."""
    playlist = _readable(catalog, playlist_id, user)
    if playlist.owner_id != user.id:
        raise ApiError(403, "forbidden", "only the playlist's owner may change it")
    return playlist


def _items_page(
    catalog: Catalog,
    playlist: Playlist,
    user: User | None,
    settings: Settings,
    page: int,
    page_size: int,
) -> PlaylistItemsPublic:
    entries = [e for e in catalog.list_playlist_entries(playlist.id) if can_see(e.video, user)]
    start = (page - 1) * page_size
    # Counted as the reader sees the list: the number of hidden items would be a leak too.
    seen = playlist.model_copy(update={"item_count": len(entries)})
    return PlaylistItemsPublic(
        playlist=_public(seen),
        items=[
            PlaylistItemPublic(
                position=e.item.position,
                added_at=e.item.added_at,
                video=VideoCardPublic.of(e.video, settings),
            )
            for e in entries[start : start + page_size]
        ],
        page=page,
        page_size=page_size,
        has_more=len(entries) > start + page_size,
    )


def _place(item: PlaylistItem) -> PlaylistItemPlace:
    return PlaylistItemPlace(video_id=item.video_id, position=item.position, added_at=item.added_at)


def _add(
    catalog: Catalog, playlist: Playlist, user: User, video_id: UUID, position: int | None
) -> PlaylistItemPlace:
    # The owner lists only what they may see: a list cannot reveal a private video's id.
    video = visible_video_or_404(catalog, video_id, user)
    try:
        return _place(catalog.add_playlist_item(playlist.id, video.id, position=position))
    except AlreadyInPlaylist:
        raise ApiError(409, "already_in_playlist", "the video is in the list already") from None
    except PlaylistFull as exc:
        raise ApiError(409, "playlist_full", str(exc)) from None


def _limit(limiter: LimiterDep, request: Request, user: User) -> None:
    limiter.check("community", address=client_address(request), account=str(user.id))


@me_router.get("/playlists", response_model=PlaylistsPublic, responses={401: UNAUTHENTICATED})
def list_my_playlists(
    catalog: CatalogDep, user: CurrentUser, page: Page = 1, page_size: PageSize = 50
) -> PlaylistsPublic:
    """Your playlists, watch later first (once you have used it), then the oldest first."""
    found = catalog.list_playlists(user.id, limit=page_size + 1, offset=(page - 1) * page_size)
    return PlaylistsPublic(
        items=[_public(p) for p in found[:page_size]],
        page=page,
        page_size=page_size,
        has_more=len(found) > page_size,
    )


@router.post(
    "",
    response_model=PlaylistPublic,
    status_code=status.HTTP_201_CREATED,
    responses={401: UNAUTHENTICATED, 409: ITEM_CONFLICT, 422: INVALID_BODY, 429: RATE_LIMITED},
)
def create_playlist(
    body: PlaylistCreate,
    request: Request,
    catalog: CatalogDep,
    user: CurrentUser,
    limiter: LimiterDep,
) -> PlaylistPublic:
    """Create an empty playlist, private unless you say otherwise."""
    _limit(limiter, request, user)
    try:
        playlist = catalog.create_playlist(
            user.id, body.title, description=body.description, visibility=body.visibility
        )
    except PlaylistFull as exc:
        raise ApiError(409, "playlist_full", str(exc)) from None
    return _public(playlist)


@router.get(
    "/{playlist_id}",
    response_model=PlaylistItemsPublic,
    responses={401: UNAUTHENTICATED, 404: PLAYLIST_NOT_FOUND},
)
def read_playlist(
    playlist_id: UUID,
    catalog: CatalogDep,
    user: OptionalUser,
    settings: SettingsDep,
    page: Page = 1,
    page_size: PageSize = 50,
) -> PlaylistItemsPublic:
    """A playlist and a page of its items you may see, in order (public lists: anyone)."""
    playlist = _readable(catalog, playlist_id, user)
    return _items_page(catalog, playlist, user, settings, page, page_size)


@router.patch(
    "/{playlist_id}",
    response_model=PlaylistPublic,
    responses={
        401: UNAUTHENTICATED,
        403: NOT_OWNER,
        404: PLAYLIST_NOT_FOUND,
        409: WATCH_LATER_FIXED,
        422: INVALID_BODY,
        429: RATE_LIMITED,
    },
)
def update_playlist(
    playlist_id: UUID,
    body: PlaylistUpdate,
    request: Request,
    catalog: CatalogDep,
    user: CurrentUser,
    limiter: LimiterDep,
) -> PlaylistPublic:
    """Rename, describe, or make public or private one of your playlists."""
    playlist = _owned(catalog, playlist_id, user)
    _limit(limiter, request, user)
    _refuse_watch_later(playlist)
    updated = catalog.update_playlist(
        playlist.id, title=body.title, description=body.description, visibility=body.visibility
    )
    return _public(updated)


@router.delete(
    "/{playlist_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        401: UNAUTHENTICATED,
        403: NOT_OWNER,
        404: PLAYLIST_NOT_FOUND,
        409: WATCH_LATER_FIXED,
        429: RATE_LIMITED,
    },
)
def delete_playlist(
    playlist_id: UUID, request: Request, catalog: CatalogDep, user: CurrentUser, limiter: LimiterDep
) -> Response:
    """Delete one of your playlists (the videos stay)."""
    playlist = _owned(catalog, playlist_id, user)
    _limit(limiter, request, user)
    _refuse_watch_later(playlist)
    catalog.delete_playlist(playlist.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _refuse_watch_later(playlist: Playlist) -> None:
    if playlist.kind == PlaylistKind.WATCH_LATER:
        raise ApiError(409, "watch_later_fixed", "the watch-later list cannot be changed so")


@router.post(
    "/{playlist_id}/items",
    response_model=PlaylistItemPlace,
    status_code=status.HTTP_201_CREATED,
    responses={
        401: UNAUTHENTICATED,
        403: NOT_OWNER,
        404: VIDEO_NOT_FOUND,
        409: ITEM_CONFLICT,
        422: INVALID_BODY,
        429: RATE_LIMITED,
    },
)
def add_playlist_item(
    playlist_id: UUID,
    body: PlaylistItemCreate,
    request: Request,
    catalog: CatalogDep,
    user: CurrentUser,
    limiter: LimiterDep,
) -> PlaylistItemPlace:
    """Add a video you may see to one of your playlists, at the end or at `position`."""
    playlist = _owned(catalog, playlist_id, user)
    _limit(limiter, request, user)
    return _add(catalog, playlist, user, body.video_id, body.position)


@router.patch(
    "/{playlist_id}/items/{video_id}",
    response_model=PlaylistItemPlace,
    responses={
        401: UNAUTHENTICATED,
        403: NOT_OWNER,
        404: ITEM_NOT_FOUND,
        422: INVALID_BODY,
        429: RATE_LIMITED,
    },
)
def move_playlist_item(
    playlist_id: UUID,
    video_id: UUID,
    body: PlaylistItemMove,
    request: Request,
    catalog: CatalogDep,
    user: CurrentUser,
    limiter: LimiterDep,
) -> PlaylistItemPlace:
    """Move a video of one of your playlists to `position`; the others shift to make room."""
    playlist = _owned(catalog, playlist_id, user)
    _limit(limiter, request, user)
    return _place(catalog.move_playlist_item(playlist.id, video_id, body.position))


@router.delete(
    "/{playlist_id}/items/{video_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: UNAUTHENTICATED, 403: NOT_OWNER, 404: ITEM_NOT_FOUND, 429: RATE_LIMITED},
)
def remove_playlist_item(
    playlist_id: UUID,
    video_id: UUID,
    request: Request,
    catalog: CatalogDep,
    user: CurrentUser,
    limiter: LimiterDep,
) -> Response:
    """Take a video out of one of your playlists."""
    playlist = _owned(catalog, playlist_id, user)
    _limit(limiter, request, user)
    catalog.remove_playlist_item(playlist.id, video_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get("/watch-later", response_model=PlaylistItemsPublic, responses={401: UNAUTHENTICATED})
def read_watch_later(
    catalog: CatalogDep,
    user: CurrentUser,
    settings: SettingsDep,
    page: Page = 1,
    page_size: PageSize = 50,
) -> PlaylistItemsPublic:
    """Your watch-later list and a page of its items, in order."""
    playlist = catalog.watch_later(user.id)
    return _items_page(catalog, playlist, user, settings, page, page_size)


@me_router.post(
    "/watch-later",
    response_model=PlaylistItemPlace,
    status_code=status.HTTP_201_CREATED,
    responses={
        401: UNAUTHENTICATED,
        404: VIDEO_NOT_FOUND,
        409: ITEM_CONFLICT,
        422: INVALID_BODY,
        429: RATE_LIMITED,
    },
)
def add_to_watch_later(
    body: PlaylistItemCreate,
    request: Request,
    catalog: CatalogDep,
    user: CurrentUser,
    limiter: LimiterDep,
) -> PlaylistItemPlace:
    """Save a video you may see to your watch-later list."""
    _limit(limiter, request, user)
    return _add(catalog, catalog.watch_later(user.id), user, body.video_id, body.position)
