"""Room moderation: room admins, bans, mutes, invitations and the audit log. The rooms table
keeps its columns (owner, topic, private) as 0001 made them.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Spelled out here rather than taken from schema.py, like 0001, so that this revision stays what
it was as the schema moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(64)
TIMESTAMP = sa.DateTime(timezone=True)


def _fk(column: str) -> sa.ForeignKey:
    return sa.ForeignKey(column, ondelete="CASCADE")


def _room_user(*extra: sa.Column[object]) -> list[sa.Column[object]]:
    return [
        sa.Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
        sa.Column("user_key", NAME, _fk("users.key"), primary_key=True),
        *extra,
    ]


def upgrade() -> None:
    op.create_table("room_admins", *_room_user())
    op.create_table("room_bans", *_room_user(sa.Column("banned_at", TIMESTAMP, nullable=False)))
    op.create_table("room_mutes", *_room_user(sa.Column("until", TIMESTAMP, nullable=False)))
    op.create_index("ix_room_mutes_until", "room_mutes", ["until"])
    op.create_table("room_invites", *_room_user(sa.Column("invited_at", TIMESTAMP, nullable=False)))
    op.create_index("ix_room_invites_user_key", "room_invites", ["user_key"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("room", NAME, nullable=True),
        sa.Column("target", NAME, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_room", "audit_log", ["room", "id"])


def downgrade() -> None:
    for table in ("audit_log", "room_invites", "room_mutes", "room_bans", "room_admins"):
        op.drop_table(table)
