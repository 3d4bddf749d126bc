"""Rotation of the records key in epochs, and the offline recovery key.

Revision 0015. ``team_keys`` row "records" becomes the newest *epoch* of the records key: its
number, the *link* (the previous epoch's secret sealed to this epoch's public key) and the
seal of its secret to the recovery key. ``records_epochs`` keeps the epochs a rotation
retired, as they were. The recovery public key and its certificate are a ``team_keys`` row
named "recovery". Every existing key is epoch 1 (docs/protocol.md, "Rotation of the records
key"). Numbered 0015 after 0012; the coordinator chains it after 0013 and 0014 at merge.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Number the records key as epoch 1; add the retired epochs' table."""
    with op.batch_alter_table("team_keys") as batch:
        batch.add_column(sa.Column("epoch", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("link", sa.Text(), nullable=True))
        batch.add_column(sa.Column("recovery_pk", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("sealed_recovery", sa.Text(), nullable=True))
    op.create_table(
        "records_epochs",
        sa.Column("epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("retired", sa.Float(), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("recovery_pk", sa.String(length=64), nullable=True),
        sa.Column("sealed_recovery", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("epoch"),
    )


def downgrade() -> None:
    """Back to one records key: the newest epoch stays (with the grants, which are all of
    it); retired epochs and the recovery key go, and with them what only they opened."""
    op.drop_table("records_epochs")
    keys = sa.table("team_keys", sa.column("name", sa.String()))
    op.execute(sa.delete(keys).where(keys.c.name == "recovery"))
    with op.batch_alter_table("team_keys") as batch:
        batch.drop_column("sealed_recovery")
        batch.drop_column("recovery_pk")
        batch.drop_column("link")
        batch.drop_column("epoch")
