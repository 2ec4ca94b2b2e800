"""A membership joined by the server-admin right alone: taken back when the right is.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

A server admin may join any private room; an invitation is used up by the join, so once
the user is a member nothing told a room they were invited to from one they entered only
as a server admin, and `torbit user set-admin --revoke` left them in both (core/demotion.py).
A flag on the membership's row, written at the join, goes with the membership (leave, kick,
ban, a deleted room). Memberships made before this migration are taken as not by right:
they stay when the right is taken away, as every membership did before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(
            sa.Column("by_right", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("by_right")
