"""How far each node has applied the store's feed: what the CLI waits for.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

`torbit user set-admin NAME --revoke` (and `passwd`, `del`) writes the change and a row of
the store's feed (the revocations every node polls), and answered at once: an act of the
user under way on a node (a kick read the right before, written after) landed after the
CLI said the right was gone. Each node now writes here the serial up to which it has
applied the feed, the acts under way of the users it names ended (core/feedmarks.py), and
the CLI waits for every node alive to pass its rows. A new table: `nodes` says a node
shares a message log (registry.py), and a node on the local log marks too.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "feed_marks",
        sa.Column("node", NAME, primary_key=True),
        sa.Column("applied", sa.BigInteger, nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feed_marks")
