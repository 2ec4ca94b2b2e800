"""The three races room deletion left open (core/roomdeletion.py), each forced by running the
step in between by hand through the core's services, on each SQL store with its message log:
a room made again between the store's deletion and its messages' deletion; a deletion that
checked the old room landing after the room was made again; a send checked before the
deletion and committed after it. Each failed on main."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.contract.test_room_deletion import Node, node  # noqa: F401 (the fixture)
from tests.helpers.held_calls import HeldCall
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.sql import SqlStore
from torbit.core.roomdeletion import delete_room
from torbit.errors import NotFound


def now() -> datetime:
    return datetime.now(UTC)


class StepFirst(SqlLog):
    """The node's message log (its store's table) as the deletion sees it: `step`, what a
    user does between the store's deletion and the messages', runs before they go."""

    def __init__(self, store: SqlStore, step: Callable[[], Awaitable[None]]) -> None:
        super().__init__(store)
        self._step = step

    async def delete_channel(self, channel: str, *rest: Any, **kw: Any) -> int:
        await self._step()
        return await super().delete_channel(channel, *rest, **kw)


async def texts(n: Node, channel: str) -> list[str]:
    return [m.text for m in await n.log.read(channel, limit=100)]


async def test_a_room_made_again_before_the_old_ones_messages_go_keeps_its_own(
    node: Node,  # noqa: F811
) -> None:
    await node.moderation.create("alice", "den")
    bob = await node.login("bob", "den")
    await node.moderation.ban("alice", "den", "dave")
    await node.messaging.send("bob", "den", "old")
    await node.messaging.receive_from("bob", "den", 10)  # a cursor
    old = await node.store.get_room("den")
    assert old is not None
    carol = await node.login("carol")

    async def made_again() -> None:
        await node.moderation.create("carol", "den")
        await node.membership.join(carol, "den")
        await node.messaging.send("carol", "den", "first")

    await delete_room(node.store, StepFirst(node.store, made_again), old, "alice", now,
                      node.events)  # fmt: skip

    assert [m.text for m in await node.messaging.history("carol", "den")] == ["first"]
    assert await texts(node, "den") == ["first"]  # the old room's went, the new one's stay
    assert node.subs.is_listening(carol, "den") and not node.subs.is_listening(bob, "den")
    assert await node.store.list_members("den") == ["carol"]
    assert await node.store.get_cursor("bob", "den") is None
    dave = await node.login("dave", "den")  # the old room's ban did not carry over
    assert node.subs.is_listening(dave, "den")
    assert [m.text for m in await node.messaging.history("dave", "den")] == ["first"]


async def test_a_deletion_that_checked_the_old_room_leaves_the_one_made_again(
    node: Node,  # noqa: F811
) -> None:
    """Two deletions (alice's, root's) both checked the old room; alice's lands first, bob
    makes the room again, then root's lands: on main it deleted bob's room by its name."""
    await node.moderation.create("alice", "den")
    old = await node.store.get_room("den")
    assert old is not None
    await node.deletion.delete("alice", "den")
    await node.moderation.create("bob", "den")
    bob = await node.login("bob", "den")
    await node.messaging.send("bob", "den", "mine")

    with pytest.raises(NotFound, match="deleted meanwhile"):
        await delete_room(node.store, node.log, old, "root", now, node.events)

    room = await node.store.get_room("den")
    assert room is not None and room.owner == "bob"
    assert node.subs.is_listening(bob, "den")
    assert not [line for line in bob.lines if "deleted by root" in line]
    assert [m.text for m in await node.messaging.history("bob", "den")] == ["mine"]
    assert [e.action for e in await node.store.list_audit("den", 10)].count("delroom") == 1


async def test_a_send_checked_before_the_deletion_and_committed_after_is_refused_and_dropped(
    node: Node,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bob's send passed its checks; it waits on the log while alice deletes the room and
    carol makes it again; then it commits. On main it was answered as sent, stayed in the
    log and reached carol's new room live."""
    await node.moderation.create("alice", "den")
    await node.login("bob", "den")
    held = HeldCall(
        monkeypatch, node.log, "publish", when=lambda drafts: any(d.text == "late" for d in drafts)
    )
    late = asyncio.create_task(node.messaging.send("bob", "den", "late"))
    await held.until_reached()
    await node.deletion.delete("alice", "den")
    await node.moderation.create("carol", "den")
    carol = await node.login("carol", "den")
    held.let_go()

    with pytest.raises(NotFound, match="#den was deleted"):
        await late
    await node.messaging.send("carol", "den", "first")
    assert [m.text for m in await node.messaging.history("carol", "den")] == ["first"]
    assert await texts(node, "den") == ["first"]
    assert not [line for line in carol.lines if "late" in line], carol.lines
