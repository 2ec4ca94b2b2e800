"""The topic's setter and time: who set a room's topic and when (IRC's RPL_TOPICWHOTIME).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Topics set before this migration keep their text with neither: nobody is named as having
set them, rather than someone who did not.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(
            sa.Column("topic_set_by", sa.String(64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("topic_set_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("topic_set_at")
        batch.drop_column("topic_set_by")
