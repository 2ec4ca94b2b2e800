"""A write naming a user and a room that lands on Cassandra while another node deletes the
user or the room (cassandra_fences.py): the writer read the rows before the deletion, the
deletion read what to remove before the write landed. Each write is held at its first write
while node A deletes the user or the room whole, as a slow node would hold it; the name's
next owner, or the room made again under its name, must start clean, as on SQL (whose
foreign keys refuse such a row). Before stop 54 they inherited the invitation, the room
admin's rights, the membership, the voice, the ban, the mute, the masks and the ignores."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.contract.conftest import NOW
from tests.contract.test_store import room, user
from tests.helpers.cassandra_nodes import slow_first_write
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import Params, Row
from torbit.core.models import BanMask, Standing
from torbit.errors import NotFound

pytestmark = pytest.mark.cassandra

SOON = datetime.now(UTC) + timedelta(days=1)


async def inherited(store: CassandraStore) -> dict[str, object]:
    """What the account `bob` holds in #den and in olga's list, as its next owner sees it."""
    return {
        "rooms": await store.rooms_of("bob"),
        "invited": await store.invited_rooms("bob"),
        "banned": await store.banned_rooms("bob"),
        "admins": await store.list_room_admins("den"),
        "voiced": await store.list_voiced("den"),
        "members": await store.list_members("den"),
        "muted": [m.user_key for m in await store.active_mutes(datetime.now(UTC))],
        "olga ignores": await store.list_ignores("olga"),
        "bob ignores": await store.list_ignores("bob"),
        "bob ignored by": await store.ignorers("bob"),
    }


WRITES: dict[str, Callable[[CassandraStore], Awaitable[object]]] = {
    "invite": lambda s: s.add_invite("den", "bob", datetime.now(UTC), "olga"),
    "join": lambda s: s.add_member("den", "bob"),
    "op": lambda s: s.set_room_admin("den", "bob", True),
    "voice": lambda s: s.set_voice("den", "bob", True),
    "ban": lambda s: s.expel("den", "bob", banned_at=datetime.now(UTC)),
    "mute": lambda s: s.set_mute("den", "bob", SOON),
    "ignore": lambda s: s.add_ignore("olga", "bob"),
    "ignored": lambda s: s.add_ignore("bob", "olga"),
}


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_write_landing_after_the_users_deletion_read_its_rows_is_taken_back(
    cstore: CassandraStore, node_b: CassandraStore, write: str
) -> None:
    await cstore.create_user(user("olga"))
    await cstore.create_user(user("bob"))
    await cstore.create_room(room("den", owner="olga", private=True))
    await cstore.add_member("den", "olga")
    if write == "voice":  # a voice is given to a member
        await cstore.add_member("den", "bob")
    slow_first_write(node_b, lambda: cstore.delete_user("bob"))

    with pytest.raises(NotFound):
        await WRITES[write](node_b)

    assert await cstore.get_user("bob") is None
    await cstore.create_user(user("bob"))  # someone else takes the name
    assert await inherited(cstore) == {
        "rooms": [],
        "invited": [],
        "banned": [],
        "admins": [],
        "voiced": [],
        "members": ["olga"],
        "muted": [],
        "olga ignores": [],
        "bob ignores": [],
        "bob ignored by": [],
    }


async def test_a_write_before_the_deletion_goes_with_the_user(
    cstore: CassandraStore, node_b: CassandraStore
) -> None:
    """The other order, unchanged: the deletion finds the rows and removes them."""
    await cstore.create_user(user("olga"))
    await cstore.create_user(user("bob"))
    await cstore.create_room(room("den", owner="olga", private=True))
    await cstore.add_member("den", "olga")
    for write in WRITES.values():
        await write(node_b)
    await cstore.delete_user("bob")
    await cstore.create_user(user("bob"))
    found = await inherited(cstore)
    assert found["invited"] == found["rooms"] == found["admins"] == found["muted"] == []
    assert found["olga ignores"] == found["bob ignored by"] == []


ROOM_WRITES: dict[str, Callable[[CassandraStore], Awaitable[object]]] = {
    **{w: WRITES[w] for w in ("invite", "join", "op", "voice", "ban", "mute")},
    "ban mask": lambda s: s.add_ban_mask("den", BanMask("bob!*@*", "olga", NOW), 100),
    "exception": lambda s: s.add_exception_mask("den", BanMask("bob!*@*", "olga", NOW, "e"), 100),
}


@pytest.mark.parametrize("write", list(ROOM_WRITES))
async def test_a_write_landing_after_the_rooms_deletion_read_its_rows_is_taken_back(
    cstore: CassandraStore, node_b: CassandraStore, write: str
) -> None:
    """The same against deleting the room: the room made again under its name by someone
    else inherited the old room's invitation, admin, voice, ban, mute or masks."""
    await cstore.create_user(user("olga"))
    await cstore.create_user(user("bob"))
    await cstore.create_user(user("carol"))
    await cstore.create_room(room("den", owner="olga", private=True))
    await cstore.add_member("den", "olga")
    if write != "join":
        await cstore.add_member("den", "bob")
    slow_first_write(node_b, lambda: cstore.delete_room("den"))

    with pytest.raises(NotFound):
        await ROOM_WRITES[write](node_b)

    assert await cstore.get_room("den") is None
    await cstore.create_room(room("den", owner="carol", private=True))
    await cstore.add_member("den", "carol")
    assert {
        "bob": await cstore.standing("den", "bob"),
        "admins": await cstore.list_room_admins("den"),
        "voiced": await cstore.list_voiced("den"),
        "bans": await cstore.list_bans("den"),
        "muted": [m.user_key for m in await cstore.active_mutes(datetime.now(UTC))],
        "masks": await cstore.list_ban_masks("den"),
        "exceptions": await cstore.list_exception_masks("den"),
        "members": await cstore.list_members("den"),
    } == {
        "bob": Standing(),
        "admins": [],
        "voiced": [],
        "bans": [],
        "muted": [],
        "masks": [],
        "exceptions": [],
        "members": ["carol"],
    }


async def test_a_join_into_a_room_going_with_its_owners_account_is_fenced(
    cstore: CassandraStore, node_b: CassandraStore
) -> None:
    """Deleting an account deletes the rooms it owns that nobody else is in; it raised no
    `closing` flag on them, so a join written after it read the room's members, and whose
    fence read came before the room's row went, stayed: a member of no room, then of the
    room made again under the name by someone else (private, here). B's join runs once A
    has read the members; A goes on once B's join is done or waits on the flag."""
    await cstore.create_user(user("olga"))
    await cstore.create_user(user("bob"))
    await cstore.create_user(user("carol"))
    await cstore.create_room(room("den", owner="olga"))
    await cstore.add_member("den", "olga")
    one = node_b.cql.one
    fenced = asyncio.Event()

    async def watched(cql: str, *params: Any) -> Row | None:
        row = await one(cql, *params)
        if "SELECT closing" in cql and row is not None and row["closing"]:
            fenced.set()
        return row

    node_b.cql.one = watched  # type: ignore[method-assign]
    joins: list[asyncio.Task[bool]] = []

    async def join_meanwhile() -> None:
        joins.append(asyncio.create_task(node_b.add_member("den", "bob")))
        waiter = asyncio.create_task(fenced.wait())
        await asyncio.wait([joins[0], waiter], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()

    batches = cstore.cql.batches
    pending = [join_meanwhile]

    async def held(writes: Sequence[tuple[str, Params]], size: int = 50) -> None:
        if pending:
            await pending.pop()()
        await batches(writes, size)

    cstore.cql.batches = held  # type: ignore[method-assign]
    await cstore.delete_user("olga")
    with pytest.raises(NotFound):
        await joins[0]

    assert await cstore.get_room("den") is None
    assert await cstore.rooms_of("bob") == []
    await cstore.create_room(room("den", owner="carol", private=True))
    assert await cstore.standing("den", "bob") == Standing()
