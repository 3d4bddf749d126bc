"""The console's wrapped key material, one opaque blob per account.

Revision 0002, after 0001. Migration 2 of the runner before Alembic made the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``console_user_keys``."""
    op.create_table(
        "console_user_keys",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("blob", sa.Text(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    """Drop ``console_user_keys``."""
    op.drop_table("console_user_keys")
