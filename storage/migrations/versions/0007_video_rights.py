"""Video rights version: a counter every change of who may watch a video moves on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 00:00:01
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    # Playback URLs carry the version they were signed at; the CDN refuses them once it moves,
    # so making a video private, premium or taken down stops the URLs already handed out.
    "ALTER TABLE videos ADD COLUMN rights_version integer NOT NULL DEFAULT 0",
    """
    CREATE FUNCTION videos_rights_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.rights_version := OLD.rights_version + 1;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER videos_rights_version BEFORE UPDATE ON videos FOR EACH ROW
    WHEN (OLD.visibility IS DISTINCT FROM NEW.visibility
          OR OLD.taken_down_at IS DISTINCT FROM NEW.taken_down_at)
    EXECUTE FUNCTION videos_rights_version()
    """,
)

DOWNGRADE = (
    "DROP TRIGGER videos_rights_version ON videos",
    "DROP FUNCTION videos_rights_version()",
    "ALTER TABLE videos DROP COLUMN rights_version",
)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
