"""The console's language, each account's own choice.

Revision 0014. ``console_users.language`` holds the language the console speaks to the account
(``vocabulary.Lang``), German for every account so far. Written for 0012 (drop threads); 0013
(notification settings, in another branch) goes between them when both are merged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Every account speaks German until it chooses otherwise."""
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False,
                                   server_default="de"))


def downgrade() -> None:
    """The release before spoke both languages at once: the choice goes."""
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("language")
