"""Statistics counters per local day, and per hour of the local week.

Revision 0003, after 0002. Migration 3 of the runner before Alembic made the same tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``stats_daily`` and ``stats_weekly``."""
    op.create_table(
        "stats_daily",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric"),
    )
    op.create_table(
        "stats_weekly",
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("week", "hour", "event"),
    )


def downgrade() -> None:
    """Drop the statistics tables."""
    op.drop_table("stats_weekly")
    op.drop_table("stats_daily")
