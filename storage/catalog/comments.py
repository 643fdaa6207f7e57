"""Comments on videos, paged newest first by an opaque cursor."""

from __future__ import annotations

from uuid import UUID

from psycopg import errors, sql

from storage.catalog.base import CatalogBase, _columns, _one
from storage.catalog.errors import InvalidState, InvalidValue, NotFound
from storage.catalog.models import Comment, CommentCursor

MAX_COMMENT_CHARS = 5000


class Comments(CatalogBase):
    """The `comments` table: adding, paging, reading and removing comments."""

    def add_comment(self, video_id: UUID, user_id: UUID, text: str) -> Comment:
        """Add a comment by a live account; text must be non-blank and at most 5000 characters."""
        if not text.strip():
            raise InvalidValue("a comment needs some text")
        if len(text) > MAX_COMMENT_CHARS:
            raise InvalidValue(f"a comment has at most {MAX_COMMENT_CHARS} characters")
        query = sql.SQL(
            "INSERT INTO comments (video_id, user_id, text) VALUES (%s, %s, %s) RETURNING {}"
        ).format(_columns(Comment))
        try:
            with self._transaction() as conn:
                author = conn.execute(
                    "SELECT deleted_at FROM users WHERE id = %s FOR SHARE", (user_id,)
                ).fetchone()
                if author is None:
                    raise NotFound(f"user {user_id}")
                if author[0] is not None:
                    raise InvalidState(f"user {user_id} is deleted")
                return _one(conn, Comment, query, (video_id, user_id, text))
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"video {video_id}") from exc

    def get_comment(self, comment_id: UUID) -> Comment:
        """The comment with this id."""
        query = sql.SQL("SELECT {} FROM comments WHERE id = %s").format(_columns(Comment))
        return self._row(Comment, query, (comment_id,), f"comment {comment_id}")

    def list_comments(
        self, video_id: UUID, *, limit: int = 50, before: CommentCursor | None = None
    ) -> list[Comment]:
        """A page of a video's comments, newest first, older than `before` when given."""
        if before is None:
            query = sql.SQL(
                "SELECT {} FROM comments WHERE video_id = %s"
                " ORDER BY created_at DESC, id DESC LIMIT %s"
            ).format(_columns(Comment))
            params: tuple[object, ...] = (video_id, limit)
        else:
            query = sql.SQL(
                "SELECT {} FROM comments WHERE video_id = %s AND (created_at, id) < (%s, %s)"
                " ORDER BY created_at DESC, id DESC LIMIT %s"
            ).format(_columns(Comment))
            params = (video_id, before.created_at, before.id, limit)
        return self._rows(Comment, query, params)

    def list_comments_by_user(self, user_id: UUID) -> list[Comment]:
        """Every comment the user wrote, newest first (none after an erasure)."""
        query = sql.SQL(
            "SELECT {} FROM comments WHERE user_id = %s ORDER BY created_at DESC, id DESC"
        ).format(_columns(Comment))
        return self._rows(Comment, query, (user_id,))

    def delete_comment(self, comment_id: UUID) -> None:
        """Remove a comment for good."""
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM comments WHERE id = %s", (comment_id,)).rowcount
        if not deleted:
            raise NotFound(f"comment {comment_id}")
