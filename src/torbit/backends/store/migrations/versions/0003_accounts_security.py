"""Accounts security: each user's credential id and name skeleton, and the revocations table.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01

Existing users get a random credential id and the skeleton of their name, computed here by
torbit.core.identity as it is at this revision (a later change of the skeleton rule comes
with a migration that recomputes it). Names that already read alike keep working: the
skeleton index is not unique, and the rule is only checked for new names.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from torbit.core.identity import skeleton

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(64)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("credential", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("skeleton", NAME, nullable=False, server_default=""))
    users = sa.table(
        "users",
        sa.column("key", NAME),
        sa.column("name", NAME),
        sa.column("credential", sa.String(64)),
        sa.column("skeleton", NAME),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.key, users.c.name)).all()
    if rows:
        conn.execute(
            users.update()
            .where(users.c.key == sa.bindparam("k"))
            .values(credential=sa.bindparam("c"), skeleton=sa.bindparam("s")),
            [{"k": key, "c": secrets.token_hex(16), "s": skeleton(name)} for key, name in rows],
        )
    op.create_index("ix_users_skeleton", "users", ["skeleton"])
    op.create_table(
        "revocations",
        sa.Column("serial", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("user_key", NAME, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("credential", sa.String(64), nullable=False),
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
    )
    op.create_index("ix_revocations_at", "revocations", ["at"])


def downgrade() -> None:
    op.drop_table("revocations")
    op.drop_index("ix_users_skeleton", "users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("skeleton")
        batch.drop_column("credential")
