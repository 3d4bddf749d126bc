"""Passkeys as the console's second sign-in factor.

Revision 0010. ``console_passkeys`` holds each counsellor's WebAuthn credentials (id, public
key, signature counter); ``console_passkey_challenges`` the challenge of each passkey
ceremony under way, good once and for a few minutes. Nothing here unlocks a key: a passkey's
PRF output stays in the browser (docs/protocol.md, "Key custody").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the passkeys and the ceremonies' challenges."""
    op.create_table(
        "console_passkeys",
        sa.Column("id", sa.String(length=1400), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("last_used", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_passkeys_user_id", "console_passkeys", ["user_id"])
    op.create_table(
        "console_passkey_challenges",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("challenge", sa.String(length=128), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_console_passkey_challenges_expires", "console_passkey_challenges",
                    ["expires"])


def downgrade() -> None:
    """Drop both: accounts sign in with their one-time codes again."""
    op.drop_index("ix_console_passkey_challenges_expires", "console_passkey_challenges")
    op.drop_table("console_passkey_challenges")
    op.drop_index("ix_console_passkeys_user_id", "console_passkeys")
    op.drop_table("console_passkeys")
