"""A feed row that commits late, after more than 16 newer serials were burnt (heal60).

The store's feed (core/revocation.py) is how `torbit user passwd`, `user del`, `room del`
and a token's logout by the CLI reach every node. PostgreSQL takes a row's serial at its
INSERT, so a row can commit after newer ones; a node waits GAP_WAIT_S for it, then passes
its serial over, and looks for it again at each poll for LATE_S. It kept only the newest
LATE_KEPT (16) serials passed over: an insert rolled back burns a serial too, so with more
than 16 of those behind a slow writer's serial, the slow row was forgotten at once and
never applied on that node: alice's password changed, her telnet session left open there.
Here on a real PostgreSQL and a real node: one insert held uncommitted on a connection of
the test's, 20 inserts rolled back behind it, then a row committed, all before it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.moderation import services
from tests.scale.conftest import (  # noqa: F401 (fixtures)
    NodeFactory,
    empty_db,
    eventually,
    make_node,
    pg_url,
    prefix,
    scale_store,
)
from tests.security.conftest import telnet_login
from torbit.core.revocation import Revocations

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
BURNT = 20  # more than the 16 (LATE_KEPT) a node kept

INSERT = (
    "INSERT INTO revocations (at, user_key, reason, credential, token, deleted)"
    " VALUES ($1, $2, $3, $4, '', false) RETURNING serial"
)


async def insert(conn: asyncpg.Connection, user: str, credential: str) -> int:
    serial: int = await conn.fetchval(
        INSERT, datetime.now(UTC), user, "your password was changed", credential
    )
    return serial


async def test_a_row_committing_after_more_than_16_burnt_serials_is_applied(
    make_node: NodeFactory,  # noqa: F811
    pg_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_init = Revocations.__init__

    def no_gap_wait(self: Revocations, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs, gap_wait=0)  # a gap is passed over at the next poll

    monkeypatch.setattr(Revocations, "__init__", no_gap_wait)
    a = await make_node("a")
    await services(a).accounts.register("alice", PASSWORD)
    alice = await telnet_login(a, "alice")
    user = await services(a).store.get_user("alice")
    feed: Revocations = services(a).revocations

    async def past(serial: int) -> bool:
        return bool(feed.applied() >= serial)

    slow = await asyncpg.connect(pg_url, timeout=5)
    other = await asyncpg.connect(pg_url, timeout=5)
    try:
        held = slow.transaction()
        await held.start()
        late = await insert(slow, "alice", user.credential)  # its serial taken, not committed
        for _ in range(BURNT):  # rolled back: a serial burnt each
            tx = other.transaction()
            await tx.start()
            await insert(other, "nobody", "no-such-credential")
            await tx.rollback()
        after = await insert(other, "nobody", "no-such-credential")
        assert after == late + BURNT + 1
        await eventually("the node past the gaps", lambda: past(after))
        await held.commit()  # alice's row lands, some 21 serials late
        last = await insert(other, "nobody", "no-such-credential")
        # the poll that read `last` looked for the late rows after `late` had landed
        await eventually("the node past the last row", lambda: past(last))
        await alice.expect("your password was changed", timeout=10)
    finally:
        await slow.close()
        await other.close()
        await alice.close()
