"""Who sent an invitation: its inviter's name beside its time, so that a user's pending
invitations can be bounded without letting one stranger push the others out (the overflow
drops the oldest of the inviter holding the most, core/invitations.py), and so that those
from users one ignores are not listed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

Invitations made before this migration keep their time with no inviter (NULL): nobody is
named as having sent them, rather than someone who did not.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("room_invites") as batch:
        batch.add_column(sa.Column("invited_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("room_invites") as batch:
        batch.drop_column("invited_by")
