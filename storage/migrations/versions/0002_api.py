"""API: refresh tokens, login throttling, video takedown, billing events, Stripe customers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    # Refresh tokens are opaque random strings; only their SHA-256 is stored, so a database
    # leak does not hand out sessions. Rotation links each token to the one it replaced.
    """
    CREATE TABLE refresh_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        token_hash bytea NOT NULL CONSTRAINT refresh_tokens_token_hash_key UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        replaced_by uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
        CONSTRAINT refresh_tokens_expiry_check CHECK (expires_at > created_at)
    )
    """,
    "CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id)",
    # Failed logins, keyed by account (lower-cased email) or by client address; counted over a
    # sliding window so every API process sees the same throttle.
    """
    CREATE TABLE login_failures (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        throttle_key text NOT NULL
            CONSTRAINT login_failures_throttle_key_check CHECK (char_length(throttle_key) <= 400),
        failed_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX login_failures_key_time_idx ON login_failures (throttle_key, failed_at)",
    # A takedown hides a video from everyone but admins and stops playback and licences,
    # without touching its visibility, so a restore returns it exactly as it was.
    "ALTER TABLE videos ADD COLUMN taken_down_at timestamptz",
    """
    ALTER TABLE videos ADD COLUMN takedown_reason text
        CONSTRAINT videos_takedown_reason_check
        CHECK ((taken_down_at IS NULL) = (takedown_reason IS NULL))
    """,
    # Stripe delivers webhooks at least once: each event is applied once.
    """
    CREATE TABLE billing_events (
        event_id text PRIMARY KEY,
        event_type text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    ALTER TABLE users ADD COLUMN stripe_customer_id text
        CONSTRAINT users_stripe_customer_key UNIQUE
    """,
)

DOWNGRADE = (
    "ALTER TABLE users DROP COLUMN stripe_customer_id",
    "DROP TABLE billing_events",
    "ALTER TABLE videos DROP COLUMN takedown_reason",
    "ALTER TABLE videos DROP COLUMN taken_down_at",
    "DROP TABLE login_failures",
    "DROP TABLE refresh_tokens",
)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
