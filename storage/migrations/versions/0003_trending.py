"""Trending videos of each day, written by the `trending_videos` asset, read by the API.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    # One row per video ranked on a day; a deleted video leaves every day's ranking with it.
    """
    CREATE TABLE trending_videos (
        day date NOT NULL,
        video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
        score double precision NOT NULL CONSTRAINT trending_videos_score_check CHECK (score >= 0),
        rank int NOT NULL CONSTRAINT trending_videos_rank_check CHECK (rank >= 1),
        PRIMARY KEY (day, video_id),
        CONSTRAINT trending_videos_day_rank_key UNIQUE (day, rank)
    )
    """,
    # The cascade on video deletion looks rows up by video.
    "CREATE INDEX trending_videos_video_id_idx ON trending_videos (video_id)",
)

DOWNGRADE = ("DROP TABLE trending_videos",)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
