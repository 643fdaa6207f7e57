"""Sessions: every refresh token belongs to the sign-in that started its rotation chain.

Access tokens name that session, and are honoured only while one of its refresh tokens is
live, so signing out, a password change or a reused refresh token ends them at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    # A sign-in starts a session (the default); a rotation copies it to the new token. Tokens
    # from before this revision each become a session of their own.
    "ALTER TABLE refresh_tokens ADD COLUMN session_id uuid NOT NULL DEFAULT gen_random_uuid()",
    # Every authenticated request asks whether its session still has a live token.
    """
    CREATE INDEX refresh_tokens_live_session_idx ON refresh_tokens (session_id)
        WHERE revoked_at IS NULL
    """,
)

DOWNGRADE = (
    "DROP INDEX refresh_tokens_live_session_idx",
    "ALTER TABLE refresh_tokens DROP COLUMN session_id",
)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
