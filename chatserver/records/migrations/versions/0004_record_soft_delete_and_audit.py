"""Records authorisation: soft deletion of records, and an audit trail of grants and refusals.

Revision 0004, after 0003. ``records.deleted_at`` marks a record its owner or an administrator
deleted (restorable until the recovery window is over); ``record_audit`` takes entries without
a record (a list, a grant) or with any id a refused try named, the account a grant went to,
and whether the access was refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``records.deleted_at``; widen ``record_audit``."""
    op.add_column("records", sa.Column("deleted_at", sa.Float(), nullable=True))
    op.create_index(op.f("ix_records_deleted_at"), "records", ["deleted_at"])
    # SQLite cannot drop NOT NULL in place: batch mode copies the table (it has no foreign
    # keys either way, so nothing cascades).
    with op.batch_alter_table("record_audit") as batch:
        # As long as a record id on the wire may be: a refused try names the id it tried.
        batch.alter_column("record_id", existing_type=sa.String(length=32),
                           type_=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column("subject_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("refused", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    """Back to 0003. Deleted records go for good: the release before would show them again."""
    records = sa.table("records", sa.column("id"), sa.column("deleted_at"))
    notes = sa.table("record_notes", sa.column("record_id"))
    audit = sa.table("record_audit", sa.column("record_id"))
    deleted = sa.select(records.c.id).where(records.c.deleted_at.is_not(None))
    op.execute(sa.delete(notes).where(notes.c.record_id.in_(deleted)))
    op.execute(sa.delete(records).where(records.c.deleted_at.is_not(None)))
    op.execute(sa.delete(audit).where(audit.c.record_id.is_(None)
                                      | (sa.func.length(audit.c.record_id) > 32)))
    with op.batch_alter_table("record_audit") as batch:
        batch.drop_column("refused")
        batch.drop_column("subject_id")
        batch.alter_column("record_id", existing_type=sa.String(length=64),
                           type_=sa.String(length=32), nullable=False)
    op.drop_index(op.f("ix_records_deleted_at"), table_name="records")
    op.drop_column("records", "deleted_at")
