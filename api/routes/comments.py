"""Comments on videos: read and write where the video is visible; delete your own (or any, as
an admin). Text is stored exactly as written and only ever returned inside JSON strings."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from api.access import can_see, is_admin, visible_video_or_404
from api.deps import CatalogDep, CurrentUser, LaggingReadsDep, OptionalUser
from api.errors import INVALID_BODY, UNAUTHENTICATED, ApiError, error
from api.schemas.social import CommentCreate, CommentPublic, CommentsPublic
from storage.catalog import Comment, CommentCursor, NotFound

router = APIRouter(tags=["comments"])

VIDEO_NOT_FOUND = error("No such video, or the caller may not see it")
NOT_AUTHOR = error("Only the comment's author or an admin may delete it")
COMMENT_NOT_FOUND = error("No such comment, or it is on a video the caller may not see")
INVALID_CURSOR = error("The cursor is not one this list handed out")


def _public(comment: Comment) -> CommentPublic:
    return CommentPublic(
        id=comment.id,
        video_id=comment.video_id,
        author_id=comment.user_id,
        text=comment.text,
        created_at=comment.created_at,
    )


@router.get(
    "/videos/{video_id}/comments",
    response_model=CommentsPublic,
    responses={401: UNAUTHENTICATED, 404: VIDEO_NOT_FOUND, 422: INVALID_CURSOR},
)
def list_comments(
    video_id: UUID,
    catalog: CatalogDep,
    lagging: LaggingReadsDep,
    user: OptionalUser,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> CommentsPublic:
    """A page of the video's comments, newest first."""
    video = visible_video_or_404(catalog, video_id, user)
    # An undecodable cursor raises the catalog's InvalidValue: a 422 like any bad parameter.
    before = CommentCursor.decode(cursor) if cursor else None
    # Someone signed in may have just commented: they read the primary.
    comments = lagging.run(
        lambda c: c.list_comments(video.id, limit=limit + 1, before=before), fresh=user is not None
    )
    next_cursor = comments[limit - 1].cursor.encode() if len(comments) > limit else None
    return CommentsPublic(items=[_public(c) for c in comments[:limit]], next_cursor=next_cursor)


@router.post(
    "/videos/{video_id}/comments",
    response_model=CommentPublic,
    status_code=status.HTTP_201_CREATED,
    responses={401: UNAUTHENTICATED, 404: VIDEO_NOT_FOUND, 422: INVALID_BODY},
)
def add_comment(
    video_id: UUID, body: CommentCreate, catalog: CatalogDep, user: CurrentUser
) -> CommentPublic:
    """Comment on a video you can see."""
    video = visible_video_or_404(catalog, video_id, user)
    return _public(catalog.add_comment(video.id, user.id, body.text))


@router.delete(
    "/comments/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: UNAUTHENTICATED, 403: NOT_AUTHOR, 404: COMMENT_NOT_FOUND},
)
def delete_comment(comment_id: UUID, catalog: CatalogDep, user: CurrentUser) -> Response:
    """Delete a comment: your own, or any as an admin."""
    comment = catalog.get_comment(comment_id)
    if comment.user_id != user.id and not is_admin(user):
        if not can_see(catalog.get_video(comment.video_id), user):
            # The answer of a missing comment: a 403 would confirm that a private video has
            # comments.
            raise NotFound(f"comment {comment_id}")
        raise ApiError(403, "forbidden", "only the comment's author or an admin may delete it")
    catalog.delete_comment(comment.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
