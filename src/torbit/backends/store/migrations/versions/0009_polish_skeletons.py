"""Skeletons recomputed: `w`/`vv` and `d`/`cl` read alike, and `m`/`rn` in any case
(core/identity.py), so the stored skeletons of users and rooms are computed again; a room's
without the separators at its ends (`#lobby.` reads as `#lobby`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Computed here by torbit.core.identity as it is at this revision. Names that now read alike
keep working (the indexes are not unique, the rule is checked for new names only); only a
new name reading like one of them is refused. Downgrading keeps the new skeletons: the old
rule's are a subset of what they refuse (everything equal before is equal now).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from torbit.core.identity import room_skeleton, skeleton

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(64)


def upgrade() -> None:
    conn = op.get_bind()
    for name, rule in (("users", skeleton), ("rooms", room_skeleton)):
        table = sa.table(
            name, sa.column("key", NAME), sa.column("name", NAME), sa.column("skeleton", NAME)
        )
        rows = conn.execute(sa.select(table.c.key, table.c.name, table.c.skeleton)).all()
        changed = [{"k": k, "s": rule(n)} for k, n, old in rows if rule(n) != old]
        if changed:
            conn.execute(
                table.update()
                .where(table.c.key == sa.bindparam("k"))
                .values(skeleton=sa.bindparam("s")),
                changed,
            )


def downgrade() -> None:
    pass
