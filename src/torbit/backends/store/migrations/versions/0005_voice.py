"""Voice: a member who may speak in a moderated room, a flag of the membership.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The flag lives on the membership's row, so it goes with the membership (leave, kick, ban)
without another table to clear. Existing members are not voiced.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("voiced", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("voiced")
