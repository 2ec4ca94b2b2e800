"""Room skeletons: each room's name skeleton (core/identity.py), so that no new room reads like
an existing one (`Iobby`, `l0bby` beside `lobby`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Existing rooms get the skeleton of their name, computed here by torbit.core.identity as it is
at this revision. Rooms that already read alike keep working: the index is not unique, and
the rule is only checked when a room is created.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from torbit.core.identity import skeleton

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(64)


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("skeleton", NAME, nullable=False, server_default=""))
    rooms = sa.table(
        "rooms", sa.column("key", NAME), sa.column("name", NAME), sa.column("skeleton", NAME)
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(rooms.c.key, rooms.c.name)).all()
    if rows:
        conn.execute(
            rooms.update()
            .where(rooms.c.key == sa.bindparam("k"))
            .values(skeleton=sa.bindparam("s")),
            [{"k": key, "s": skeleton(name)} for key, name in rows],
        )
    op.create_index("ix_rooms_skeleton", "rooms", ["skeleton"])


def downgrade() -> None:
    op.drop_index("ix_rooms_skeleton", "rooms")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("skeleton")
