"""Keys bound to identities: the records key's certificate, and per grant the box key's
signature by the counsellor's identity key with that identity's certificate.

Revision 0005. All three columns are public material that clients verify against the pinned
organisation key (docs/protocol.md, "Keys bound to identities"); rows from before stay, with
nulls that the consoles refuse to seal to until a console registers again or the admin
installs the certificate.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
# Merge note: on main this follows "0004" (another branch's revision).
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``team_keys.certificate``, ``key_grants.box_sig`` and ``key_grants.certificate``."""
    with op.batch_alter_table("team_keys") as batch:
        batch.add_column(sa.Column("certificate", sa.Text(), nullable=True))
    with op.batch_alter_table("key_grants") as batch:
        batch.add_column(sa.Column("box_sig", sa.String(length=88), nullable=True))
        batch.add_column(sa.Column("certificate", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the three columns again."""
    with op.batch_alter_table("key_grants") as batch:
        batch.drop_column("certificate")
        batch.drop_column("box_sig")
    with op.batch_alter_table("team_keys") as batch:
        batch.drop_column("certificate")
