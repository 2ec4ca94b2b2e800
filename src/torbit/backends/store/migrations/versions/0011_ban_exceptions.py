"""Ban exceptions: masks of a room's clients that its ban masks do not bar (IRC's +e,
core/banmasks.py), kept by kind so that other exception lists need no new table. They go with
the room.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Spelled out here rather than taken from schema.py, so that this revision stays what it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "room_exception_masks",
        sa.Column(
            "room_key",
            sa.String(64),
            sa.ForeignKey("rooms.key", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(1), primary_key=True),
        sa.Column("mask", sa.String(128), primary_key=True),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("room_exception_masks")
