"""Room settings: join key, member limit, topic lock, no outside messages, moderated.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Existing rooms get what they always had: no key, no limit, the topic set by admins only,
only members sending, not moderated.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("join_key", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("member_limit", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("topic_lock", sa.Boolean, nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("no_external", sa.Boolean, nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("moderated", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        for column in ("moderated", "no_external", "topic_lock", "member_limit", "join_key"):
            batch.drop_column(column)
