"""Message drops as threads: several rounds under one lookup value.

Revision 0012. A ``drops`` row becomes one round of a thread: ``round`` numbers the rounds of
one lookup value from 1 (every drop so far is round 1), the lookup value is unique per round
instead of per row, and ``answer_team`` keeps a copy of the answer sealed to the team's records
key, so that counsellors read the whole thread (the answer itself is sealed to the visitor).
It follows 0011 (record entries).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Number every drop as round 1 and let a lookup value have several rounds."""
    op.drop_index(op.f("ix_drops_lookup"), table_name="drops")
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("answer_team", sa.Text(), nullable=True))
    op.create_index("ix_drops_lookup_round", "drops", ["lookup", "round"], unique=True)


def downgrade() -> None:
    """Back to one drop per lookup value: the later rounds of every thread go (the release
    before could neither show nor answer them)."""
    drops = sa.table("drops", sa.column("round", sa.Integer()))
    op.execute(sa.delete(drops).where(drops.c.round > 1))
    op.drop_index("ix_drops_lookup_round", table_name="drops")
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("answer_team")
        batch.drop_column("round")
    op.create_index(op.f("ix_drops_lookup"), "drops", ["lookup"], unique=True)
