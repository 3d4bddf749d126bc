"""Each counsellor's notification choices, kept on the server.

Revision 0013, after 0012 (drop threads). One row per console account in
``counsellor_settings``: whether a new request and a new message in a chat in the background
ring and show a desktop notice. Only booleans, nothing of any chat; the row goes with its
account. An account without a row has every choice off.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``counsellor_settings``."""
    op.create_table(
        "counsellor_settings",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("request_sound", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("request_notice", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("message_sound", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("message_notice", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    """Drop ``counsellor_settings`` (the release before kept no such choices)."""
    op.drop_table("counsellor_settings")
