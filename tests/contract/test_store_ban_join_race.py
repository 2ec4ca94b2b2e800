"""A ban racing a join of the user it bans, on PostgreSQL (attack61: two nodes, an IRC JOIN
on node b and carol's ban by HTTP, left bob a member of a room that bans him, 1 of 16 rounds
of tests/integration/test_attack61_nodes.py). A join adds the membership, then reads the
standing again and takes itself back if banned (`_still_admitted`): sound only if the ban
either ends the membership the join added or is seen by that read. Under READ COMMITTED,
the ban's `DELETE` from memberships ran before the join's insert committed (it found
nothing), and the join's read came before the ban committed (it saw no ban): both held."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial

import pytest

from tests.contract.conftest import NOW
from tests.contract.test_store import room, users
from tests.helpers.pglock import TableLock
from tests.scale.conftest import eventually
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Standing
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = [pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


async def lock_waits(lock: TableLock) -> int:
    """Backends of this database waiting on any lock (the join's insert on the ban's row)."""
    await lock.conn.execute("SELECT pg_stat_clear_snapshot()")  # not the transaction's view
    n: int = await lock.conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND datname = current_database()"
    )
    return n


async def raced_by_a_held_ban(
    store: Store,
    store_url: str,
    table: str,
    add: Callable[[], Awaitable[bool]],
    take_back: Callable[[], Awaitable[object]],
) -> tuple[bool, Standing]:
    """bob banned from #den by a ban whose transaction is held at its write of `table` (a
    lock of the test's: reads go on) while bob's admission is made as the service makes it:
    `add`, then a read of the standing, and `take_back` if he is banned by then. Once both
    are done: whether the admission held, and bob's standing."""

    async def admit() -> bool:
        if not await add():
            return False
        if (await store.standing("den", "bob")).banned:
            await take_back()
            return False
        return True

    async with TableLock.held(store_url, table, "EXCLUSIVE") as lock:
        ban = asyncio.create_task(store.expel("den", "bob", banned_at=NOW))
        await eventually(f"the ban waits on {table}", lock.waiting)
        admitting = asyncio.create_task(admit())

        async def done_or_waiting() -> bool:
            return admitting.done() or await lock_waits(lock) >= 2

        await eventually("the admission is done or waits for the ban", done_or_waiting)
    await ban
    return await admitting, await store.standing("den", "bob")


async def test_a_join_landing_inside_a_ban_s_transaction_is_taken_back(
    store: Store, store_url: str
) -> None:
    """The ban's transaction held after its `DELETE` from memberships (its next write, on
    room_admins, waits on a lock of the test's); bob's join (`Membership.become_member`'s
    insert and `_still_admitted`'s read) adds the membership and reads the standing: either
    it waits for the ban, or the ban finds the membership it added. Once both are done, bob
    is banned and no member."""
    assert isinstance(store, SqlStore)
    await users(store, "alice", "bob")
    await store.create_room(room("den", owner="alice"))
    joined, standing = await raced_by_a_held_ban(
        store,
        store_url,
        "room_admins",
        add=partial(store.add_member, "den", "bob"),
        take_back=partial(store.remove_member, "den", "bob"),
    )
    print(f"join said {'in' if joined else 'out'}; then {standing}")
    assert standing.banned
    assert not standing.member


async def test_an_invitation_landing_inside_a_ban_s_transaction_is_taken_back(
    store: Store, store_url: str
) -> None:
    """The same for an invitation (`InvitationActions.invite`: the insert, then a read of
    the standing, the invitation removed if banned meanwhile): the ban's transaction held
    before its insert of the ban (room_bans locked), after its `DELETE` of invitations.
    On main the invitation stood beside the ban: an unban later let bob into the private
    room, by an invitation its admins were told was refused or never saw."""
    assert isinstance(store, SqlStore)
    await users(store, "alice", "bob")
    await store.create_room(room("den", owner="alice", private=True))
    invited, standing = await raced_by_a_held_ban(
        store,
        store_url,
        "room_bans",
        add=partial(store.add_invite, "den", "bob", NOW, "alice"),
        take_back=partial(store.remove_invite, "den", "bob"),
    )
    print(f"invitation said {'made' if invited else 'refused'}; then {standing}")
    assert standing.banned
    assert not standing.invited
