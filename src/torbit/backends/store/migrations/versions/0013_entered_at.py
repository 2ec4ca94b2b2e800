"""Where a returning user lands: when each member last went into the room to talk in it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

A time on the membership's row, so it goes with the membership (leave, kick, ban, a
deleted room) and a returning user is never brought back into a room they are out of. It
could not be derived from what was stored: read cursors hold a message id per room, and ids
of different rooms do not compare. Memberships made before this migration have none (NULL):
their users land in the default room, as before, until they next /join a room.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("entered_at")
