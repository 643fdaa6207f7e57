"""Mail: registrations awaiting their address's confirmation, password resets, and the outbox of
messages the mail sender delivers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    # An account exists only once its address is confirmed: until then, nothing here stops
    # anyone else from registering the same address, and only its owner can confirm.
    """
    CREATE TABLE registrations (
        token_digest bytea PRIMARY KEY,
        email text NOT NULL
            CONSTRAINT registrations_email_check
            CHECK (position('@' IN email) > 1 AND char_length(email) <= 320),
        password_hash text NOT NULL,
        role text NOT NULL
            CONSTRAINT registrations_role_check CHECK (role IN ('viewer', 'creator')),
        profile_data jsonb NOT NULL DEFAULT '{}'
            CONSTRAINT registrations_profile_data_check
            CHECK (jsonb_typeof(profile_data) = 'object'),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX registrations_expires_at_idx ON registrations (expires_at)",
    """
    CREATE TABLE password_resets (
        token_digest bytea PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX password_resets_user_id_idx ON password_resets (user_id)",
    # Written in the transaction of the change a message tells of, so that no change goes
    # untold and no message tells of a change that was rolled back. Mail to an account is
    # addressed when it is sent: an address changed or erased meanwhile is respected.
    """
    CREATE TABLE mail_outbox (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind text NOT NULL,
        to_address text,
        user_id uuid REFERENCES users (id) ON DELETE CASCADE,
        payload jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        attempts integer NOT NULL DEFAULT 0,
        sent_at timestamptz,
        -- Given up: the server refused it for good, or the account was closed.
        abandoned_at timestamptz,
        last_error text,
        CONSTRAINT mail_outbox_one_recipient_check
            CHECK ((to_address IS NULL) <> (user_id IS NULL))
    )
    """,
    "CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at)"
    " WHERE sent_at IS NULL AND abandoned_at IS NULL",
)

DOWNGRADE = (
    "DROP TABLE mail_outbox",
    "DROP TABLE password_resets",
    "DROP TABLE registrations",
)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
