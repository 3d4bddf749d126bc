"""Key custody: several box keys per counsellor, key wraps only added, one-time passwords.

Revision 0007. ``key_grants`` is keyed by counsellor *and* box key, so a new device or browser
adds its box key beside the old ones (each needing its own grant) and never voids a grant;
``registered`` says which came last. ``console_key_wraps`` holds the console's wrapped identity
and box keys, several per account (one per unlock method and device), each written once and
never replaced; what unlocks them (a passkey's PRF output or a key passphrase) never reaches
the server.
``console_user_keys`` stays as it was: the wraps made before, under a key derived from the
sign-in password, which the console no longer writes. ``console_users.password_once`` marks a
password an administrator set, which must be changed at the next sign-in.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def _grants(primary_key: tuple[str, ...], *extra: sa.Column[float]) -> sa.Table:
    """``key_grants`` as SQLite's batch mode is to copy it, keyed by ``primary_key``."""
    return sa.Table(
        "key_grants", sa.MetaData(),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("box_pk", sa.String(length=64), nullable=False),
        sa.Column("sealed_records_sk", sa.Text(), nullable=True),
        sa.Column("granted_by", sa.String(length=64), nullable=True),
        sa.Column("granted_at", sa.Float(), nullable=True),
        sa.Column("box_sig", sa.String(length=88), nullable=True),
        sa.Column("certificate", sa.Text(), nullable=True),
        *extra,
        sa.PrimaryKeyConstraint(*primary_key),
    )


def _registered() -> sa.Column[float]:
    return sa.Column("registered", sa.Float(), server_default="0", nullable=False)


def upgrade() -> None:
    """Key ``key_grants`` by counsellor and box key; add the key wraps and the one-time
    password flag."""
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot change a primary key in place: batch mode copies the table into one
        # keyed as given.
        with op.batch_alter_table("key_grants", recreate="always",
                                  copy_from=_grants(("user_id", "box_pk"))) as batch:
            batch.add_column(_registered())
    else:
        op.add_column("key_grants", _registered())
        op.drop_constraint("key_grants_pkey", "key_grants", type_="primary")
        op.create_primary_key("key_grants_pkey", "key_grants", ["user_id", "box_pk"])
    op.create_table(
        "console_key_wraps",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("blob", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["console_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "id"),
    )
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(sa.Column("password_once", sa.Boolean(), server_default=sa.false(),
                                   nullable=False))


def downgrade() -> None:
    """Back to one box key per counsellor: of several, the one holding a grant (the latest
    registered) stays; the key wraps go (the release before cannot open them)."""
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("password_once")
    op.drop_table("console_key_wraps")
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT user_id, box_pk FROM key_grants "
        "ORDER BY sealed_records_sk IS NULL, registered DESC")).all()
    kept: set[str] = set()
    grants = sa.table("key_grants", sa.column("user_id"), sa.column("box_pk"))
    for user_id, box_pk in rows:
        if user_id in kept:
            op.execute(sa.delete(grants).where(grants.c.user_id == user_id,
                                               grants.c.box_pk == box_pk))
        kept.add(user_id)
    if conn.dialect.name == "sqlite":
        with op.batch_alter_table("key_grants", recreate="always",
                                  copy_from=_grants(("user_id",), _registered())) as batch:
            batch.drop_column("registered")
    else:
        op.drop_constraint("key_grants_pkey", "key_grants", type_="primary")
        op.create_primary_key("key_grants_pkey", "key_grants", ["user_id"])
        op.drop_column("key_grants", "registered")
