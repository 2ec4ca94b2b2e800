"""The initial schema: users, rooms, memberships, ignores, cursors, tokens, messages.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Spelled out here rather than taken from schema.py so that this revision stays what it was as
the schema moves on; tests/contract checks that schema.py and the migrated database agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(64)
TIMESTAMP = sa.DateTime(timezone=True)  # timestamptz on PostgreSQL, UTC text on SQLite


def _fk(column: str) -> sa.ForeignKey:
    return sa.ForeignKey(column, ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("key", NAME, primary_key=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
    )
    op.create_table(
        "rooms",
        sa.Column("key", NAME, primary_key=True),
        sa.Column("name", NAME, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("owner", NAME, nullable=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("private", sa.Boolean, nullable=False),
    )
    op.create_table(
        "memberships",
        sa.Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
        sa.Column("user_key", NAME, _fk("users.key"), primary_key=True),
    )
    op.create_index("ix_memberships_user_key", "memberships", ["user_key"])
    op.create_table(
        "ignores",
        sa.Column("user_key", NAME, _fk("users.key"), primary_key=True),
        sa.Column("ignored_key", NAME, _fk("users.key"), primary_key=True),
    )
    op.create_index("ix_ignores_ignored_key", "ignores", ["ignored_key"])
    op.create_table(
        "cursors",
        sa.Column("user_key", NAME, _fk("users.key"), primary_key=True),
        sa.Column("channel", NAME, primary_key=True),
        sa.Column("last_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("hash", sa.String(128), primary_key=True),
        sa.Column("user_key", NAME, _fk("users.key"), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_tokens_user_key", "tokens", ["user_key"])
    op.create_table(
        "messages",
        sa.Column("channel", NAME, primary_key=True),
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("sender", NAME, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipient", NAME, nullable=True),
    )
    op.create_index("ix_messages_sent_at", "messages", ["sent_at"])
    op.create_table(
        "purge_marks",
        sa.Column("channel", NAME, primary_key=True),
        sa.Column("last_id", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "purge_marks",
        "messages",
        "tokens",
        "cursors",
        "ignores",
        "memberships",
        "rooms",
        "users",
    ):
        op.drop_table(table)
