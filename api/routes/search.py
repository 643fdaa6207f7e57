"""Search: PostgreSQL full-text search over what listings may show the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import LaggingReadsDep, OptionalUser, SettingsDep
from api.errors import UNAUTHENTICATED, ApiError, error
from api.schemas import text_problem
from api.schemas.social import SearchResultsPublic, VideoCardPublic

router = APIRouter(prefix="/search", tags=["search"])

INVALID_QUERY = error("A parameter breaks its rules (length, page range)")
# Deep offsets make PostgreSQL rank and skip every earlier row; nobody reads page 200.
MAX_PAGE = 100


@router.get(
    "", response_model=SearchResultsPublic, responses={401: UNAUTHENTICATED, 422: INVALID_QUERY}
)
def search(
    lagging: LaggingReadsDep,
    user: OptionalUser,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=200, description="web-search syntax")] = "",
    tags: Annotated[
        list[str] | None,
        Query(max_length=20, description="repeat or comma-separate; all must match"),
    ] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=50)] = 20,
) -> SearchResultsPublic:
    """Videos matching the words and tags, best match first (no words: newest first)."""
    wanted = [tag for value in tags or () for tag in value.split(",")]
    # PostgreSQL refuses NUL in text parameters: a bad query string, not a server failure.
    problem = text_problem([q, *wanted])
    if problem is not None:
        raise ApiError(422, "invalid_request", f"q and tags: {problem}")
    # A signed-in caller also finds their own unlisted videos: as they are now, on the primary.
    found = lagging.run(
        lambda catalog: catalog.search_listed_videos(
            q,
            viewer_id=user.id if user else None,
            tags=wanted,
            limit=page_size + 1,
            offset=(page - 1) * page_size,
        ),
        fresh=user is not None,
    )
    return SearchResultsPublic(
        items=[VideoCardPublic.of(video, settings) for video in found[:page_size]],
        page=page,
        page_size=page_size,
        has_more=len(found) > page_size,
    )
