"""Message drops found by a lookup value the widget derives, answers signed by a counsellor.

Revision 0006. ``drops.lookup`` holds the value the widget derived from the drop code it made
(the server never sees the code); ``codename_key`` stays only for drops left before, which
counsellors can still read until they expire but nobody can answer. An answer now carries the
answering counsellor's certificate and signature, and who wrote it.
It follows 0005 (records-key certificates and signed box keys).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the lookup value and the signed answer's columns; old drops keep their codename."""
    # SQLite cannot drop NOT NULL in place: batch mode copies the table (no foreign keys).
    with op.batch_alter_table("drops") as batch:
        batch.alter_column("codename_key", existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column("lookup", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("answer_certificate", sa.Text(), nullable=True))
        batch.add_column(sa.Column("answer_sig", sa.String(length=88), nullable=True))
        batch.add_column(sa.Column("answered_by", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_drops_lookup"), "drops", ["lookup"], unique=True)


def downgrade() -> None:
    """Back to the release before. Drops left since go: that release finds drops only by a
    codename it made itself."""
    drops = sa.table("drops", sa.column("codename_key"))
    op.execute(sa.delete(drops).where(drops.c.codename_key.is_(None)))
    op.drop_index(op.f("ix_drops_lookup"), table_name="drops")
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("answered_by")
        batch.drop_column("answer_sig")
        batch.drop_column("answer_certificate")
        batch.drop_column("lookup")
        batch.alter_column("codename_key", existing_type=sa.String(length=64), nullable=False)
