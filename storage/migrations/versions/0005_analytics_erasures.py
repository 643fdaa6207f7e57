"""Analytics erasures: the days whose viewing datasets must be rebuilt after an account erasure.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.migrate import execute_all

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UPGRADE = (
    # Written with the account's erasure, read by the Dagster sensor that re-runs those days.
    # It names days only, never the person: the request must not outlive what it erases.
    """
    CREATE TABLE analytics_erasures (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        days date[] NOT NULL CONSTRAINT analytics_erasures_days_check CHECK (cardinality(days) > 0),
        requested_at timestamptz NOT NULL DEFAULT now()
    )
    """,
)

DOWNGRADE = ("DROP TABLE analytics_erasures",)


def upgrade() -> None:
    execute_all(UPGRADE)


def downgrade() -> None:
    execute_all(DOWNGRADE)
