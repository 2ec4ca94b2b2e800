"""Guests by age and node (NAME=guests): a partial index of the guests' accounts by creation
time, so that the sweep of guests left over by a dead node (core/guests.py, `sweep_stale`)
reads pages of guests, not every account; each guest's node, and the nodes' leases, so that
the guests of a node cut off from the message log, alive and still holding the store, are
not taken for left over.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Guests stored before have no node (""): they are swept as before, by presence alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(64)
GUESTS = sa.text("password_hash = '!guest'")  # core/models.GUEST_PASSWORD_HASH at this revision


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("node", NAME, nullable=False, server_default=""))
    op.create_index(
        "ix_users_guests",
        "users",
        ["created_at", "key"],
        sqlite_where=GUESTS,
        postgresql_where=GUESTS,
    )
    op.create_table(
        "nodes",
        sa.Column("node", NAME, primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    op.drop_index("ix_users_guests", "users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("node")
