"""Continuity: what a chat adds to its case record after the hand-off, and the visitor's copy.

Revision 0011. ``record_entries`` holds, append-only, the later lines of the chat that filed a
record and of every codename return chat linked to it, each entry sealed in the counsellor's
browser to the team's records public key and padded (docs/protocol.md, "Continuity"). Entries
go with their record (withdrawal, purge; ``ON DELETE CASCADE`` and the store's own deletes).
``records.reader_pk`` is the public key the visitor's widget derived from a reading code it
made, and ``reader_body`` (records and entries) the copies sealed to it, which only the visitor
opens. It follows 0010 (passkeys).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the append-only entries table."""
    op.create_table(
        "record_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("reader_body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_record_entries_record_id"), "record_entries", ["record_id"],
                    unique=False)
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("reader_pk", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("reader_body", sa.Text(), nullable=True))


def downgrade() -> None:
    """Back to the release before: the entries and the visitors' copies go (that release does
    not know them)."""
    with op.batch_alter_table("records") as batch:
        batch.drop_column("reader_body")
        batch.drop_column("reader_pk")
    op.drop_index(op.f("ix_record_entries_record_id"), table_name="record_entries")
    op.drop_table("record_entries")
