"""Community and captions: a viewer's rating of a video (and the history of ratings, which the
daily datasets count), viewers' playlists, and the caption tracks of a video per language.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    # One rating per viewer per video: like (1) or dislike (-1); taking it back deletes the row.
    """
    CREATE TABLE video_ratings (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        value smallint NOT NULL CONSTRAINT video_ratings_value_check CHECK (value IN (-1, 1)),
        rated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (video_id, user_id)
    )
    """,
    "CREATE INDEX video_ratings_user_id_idx ON video_ratings (user_id, rated_at DESC)",
    # Every change of a rating, in the transaction that made it: a day's counts can be computed
    # again at any time, whatever changed since. `value` 0 is a rating taken back; `previous`
    # is what it replaced (0: none).
    """
    CREATE TABLE video_rating_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        value smallint NOT NULL
            CONSTRAINT video_rating_events_value_check CHECK (value IN (-1, 0, 1)),
        previous smallint NOT NULL
            CONSTRAINT video_rating_events_previous_check CHECK (previous IN (-1, 0, 1)),
        at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX video_rating_events_at_idx ON video_rating_events (at)",
    # A viewer's ordered lists. `kind` 'watch_later' is the one built-in list each viewer has
    # (made on first use); 'user' lists are named by their owner.
    """
    CREATE TABLE playlists (
        id uuid PRIMARY KEY,
        owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        kind text NOT NULL DEFAULT 'user'
            CONSTRAINT playlists_kind_check CHECK (kind IN ('user', 'watch_later')),
        title text NOT NULL
            CONSTRAINT playlists_title_check CHECK (char_length(title) BETWEEN 1 AND 200),
        description text NOT NULL DEFAULT ''
            CONSTRAINT playlists_description_check CHECK (char_length(description) <= 5000),
        visibility text NOT NULL DEFAULT 'private'
            CONSTRAINT playlists_visibility_check CHECK (visibility IN ('private', 'public')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX playlists_owner_id_idx ON playlists (owner_id, created_at)",
    "CREATE UNIQUE INDEX playlists_one_watch_later_key ON playlists (owner_id)"
    " WHERE kind = 'watch_later'",
    # Positions are dense from 0 within a list; a video appears in a list at most once.
    """
    CREATE TABLE playlist_items (
        playlist_id uuid NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        position integer NOT NULL CONSTRAINT playlist_items_position_check CHECK (position >= 0),
        added_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (playlist_id, video_id),
        CONSTRAINT playlist_items_position_key UNIQUE (playlist_id, position)
            DEFERRABLE INITIALLY DEFERRED
    )
    """,
    "CREATE INDEX playlist_items_video_id_idx ON playlist_items (video_id)",
    # A caption track per video and language (BCP 47 tag), normalised to WebVTT and kept in the
    # object store; `revision` moves on every replacement, so a published version names the
    # tracks it packaged.
    """
    CREATE TABLE video_captions (
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        language text NOT NULL
            CONSTRAINT video_captions_language_check
            CHECK (language ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
        label text NOT NULL
            CONSTRAINT video_captions_label_check CHECK (char_length(label) BETWEEN 1 AND 100),
        object_key text NOT NULL,
        cues integer NOT NULL CONSTRAINT video_captions_cues_check CHECK (cues >= 0),
        revision integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (video_id, language)
    )
    """,
)

DOWNGRADE = (
    "DROP TABLE video_captions",
    "DROP TABLE playlist_items",
    "DROP TABLE playlists",
    "DROP TABLE video_rating_events",
    "DROP TABLE video_ratings",
)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
