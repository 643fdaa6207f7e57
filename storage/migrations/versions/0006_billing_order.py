"""Billing order: the time of the last provider event applied to a subscription, and how long a
user's subscription is paid for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    # Providers deliver events late, twice and out of order: an event older than the last one
    # applied to the subscription changes nothing.
    "ALTER TABLE subscriptions ADD COLUMN last_event_at timestamptz",
    # The end of the paid period of the user's active subscriptions (NULL: open-ended or none),
    # so that a renewal that never comes ends the entitlement without any event.
    "ALTER TABLE users ADD COLUMN subscribed_until timestamptz",
    """
    UPDATE users u SET subscribed_until = s.until
    FROM (
        SELECT user_id,
               CASE WHEN bool_or(end_date IS NULL) THEN NULL ELSE max(end_date) END AS until
        FROM subscriptions WHERE status = 'active' GROUP BY user_id
    ) s
    WHERE u.id = s.user_id
    """,
)

DOWNGRADE = (
    "ALTER TABLE users DROP COLUMN subscribed_until",
    "ALTER TABLE subscriptions DROP COLUMN last_event_at",
)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
