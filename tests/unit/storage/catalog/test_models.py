"""The catalog's models without a database: cursors, renditions, what a repr leaves out."""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime
from uuid import UUID

import pytest

from storage.catalog import (
    Comment,
    CommentCursor,
    DrmContentKey,
    DrmScheme,
    InvalidValue,
    NewStreamAsset,
    StreamFormat,
)

COMMENT_ID = UUID("7c2b1a8e-5d4f-4e3a-9b2c-1d0e9f8a7b6c")
CREATED_AT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def test_a_cursor_survives_its_token() -> None:
    cursor = CommentCursor(created_at=CREATED_AT, id=COMMENT_ID)

    token = cursor.encode()

    assert CommentCursor.decode(token) == cursor
    # Safe in a query string as it is: no padding, no '+' or '/'.
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-cursor",
        "",
        base64.urlsafe_b64encode(b"2026-03-01T12:00:00+00:00").decode(),
        base64.urlsafe_b64encode(b"yesterday|" + str(COMMENT_ID).encode()).decode(),
        base64.urlsafe_b64encode(b"2026-03-01T12:00:00+00:00|not-a-uuid").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe|").decode(),
    ],
)
def test_anything_else_is_not_a_cursor(token: str) -> None:
    with pytest.raises(InvalidValue, match="not a comment cursor"):
        CommentCursor.decode(token)


def test_a_comment_pages_from_its_own_cursor() -> None:
    comment = Comment(
        id=COMMENT_ID, video_id=COMMENT_ID, user_id=None, text="hi", created_at=CREATED_AT
    )

    assert comment.cursor == CommentCursor(created_at=CREATED_AT, id=COMMENT_ID)


def test_a_rendition_is_named_by_its_size() -> None:
    asset = NewStreamAsset(
        width=1920,
        height=1080,
        bitrate=5_000_000,
        codec="avc1.640028",
        format=StreamFormat.DASH,
        cdn_url="https://cdn.example/v1/stream.mpd",
    )

    assert asset.resolution == "1920x1080"
    with pytest.raises(ValueError):
        NewStreamAsset(**{**asset.model_dump(), "width": 0})


def test_a_content_key_stays_out_of_its_repr() -> None:
    key = DrmContentKey(
        key_id=COMMENT_ID, video_id=COMMENT_ID, scheme=DrmScheme.CENC, content_key=b"\x01" * 16
    )

    assert "content_key" not in repr(key)
    assert (b"\x01" * 16).hex() not in repr(key)
