"""A guest's act carried to its new name while the act's room is deleted and made again
(tidy59). Another node's mute, ban or deop of a guest's old name, reaching this node while it
renamed the guest, is done again to the new name once the rename ended (core/renames.py,
xnode54). That carry was written by the room's key alone: alice's #den deleted and made again
by carol between the act and the carry, or while the carry's write was on its way, took the
old room's act (dave2 muted or banned in carol's room, or his admin rights there taken). It
lands in the act's room or nowhere now; with the room left as it was, it lands as before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.contract.test_room_deletion import Node, node  # noqa: F401 (the fixture)
from tests.contract.test_room_deletion_held_acts import den, hold, remade  # noqa: F401
from torbit.core.events import Expelled, MaskExemptionEnded, MuteChanged, NodeEvent
from torbit.core.keylocks import SharedTurns
from torbit.core.renames import Renames

WRITES = {"mute": "set_mute", "ban": "expel", "deop": "set_room_admin"}


def acted(act: str) -> NodeEvent:
    """alice's act on dave in #den, as another node's event tells it."""
    if act == "mute":
        until = datetime.now(UTC) + timedelta(minutes=10)
        return MuteChanged("den", "den", "dave", "dave", "alice", until.isoformat(), 10)
    if act == "ban":
        return Expelled("den", "den", "dave", "dave", "alice", "banned")
    return MaskExemptionEnded("den", "dave", "alice")


async def remade_with_dave2(n: Node, act: str) -> None:
    """carol's #den, dave2 a member there (an admin of it for a deop)."""
    await remade(n, private=False, joins="dave2")
    if act == "deop":
        await n.moderation.op("carol", "den", "dave2")


async def carried(n: Node, act: str, remake: str) -> None:
    """dave, renamed to dave2 here (the rename's copy: dave2 a member of #den, an admin for a
    deop), is acted on by another node meanwhile; #den is made again by carol `remake`
    ("before the carry", "at its write" or "never"); every work the event left ends."""
    renames = Renames(n.store, n.events, rights := SharedTurns())
    await n.user("dave2")
    await n.login("dave2", "den")
    if act == "deop":
        await n.moderation.op("alice", "den", "dave2")
    renames.begin("dave")
    async with rights.alone("dave"):  # the rename's turn on the old name
        work = n.events.apply(acted(act))
        await n.store.delete_user("dave")  # the old name's end
        if remake == "before the carry":
            await remade_with_dave2(n, act)
        elif remake == "at its write":
            hold(n, WRITES[act], lambda: remade_with_dave2(n, act))
        renames.end("dave", ("dave2", "dave2"))
    await asyncio.gather(*work)


async def dave2_in_den(n: Node) -> tuple[bool, bool, bool]:
    """Whether dave2 is muted, banned, an admin in #den."""
    muted = await n.store.active_mutes(datetime.now(UTC), of=("den", "dave2"))
    return (
        bool(muted),
        "dave2" in await n.store.list_bans("den"),
        ("dave2" in await n.store.list_room_admins("den")),
    )


@pytest.mark.parametrize("remake", ["before the carry", "at its write"])
@pytest.mark.parametrize("act", ["mute", "ban", "deop"])
async def test_a_carried_act_does_not_land_in_the_room_made_again(
    den: Node,  # noqa: F811
    act: str,
    remake: str,
) -> None:
    """On main each landed in carol's room: dave2 muted there, banned (put out), or deopped."""
    await den.login("dave", "den")
    await carried(den, act, remake)
    room = await den.store.get_room("den")
    assert room is not None and room.owner == "carol"
    assert await dave2_in_den(den) == (False, False, act == "deop")
    assert "dave2" in await den.store.list_members("den")


@pytest.mark.parametrize("act", ["mute", "ban", "deop"])
async def test_a_carried_act_still_lands_in_its_own_room(den: Node, act: str) -> None:  # noqa: F811
    await den.login("dave", "den")
    await carried(den, act, "never")
    assert await dave2_in_den(den) == (act == "mute", act == "ban", False)
