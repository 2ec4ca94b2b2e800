"""Acts under way while a room is deleted and made again (roomdel56): each act checked the old
room, then is held at its store write while alice (its owner) deletes it and carol makes a
room of the same name, private, and says a secret there; then the write lands. A join, an
invitation, a topic or privacy change, a settings change, a kick and a ban by the old room's
owner or admin must not land in carol's room: each is refused as the old room's ("deleted
meanwhile", 404) and carol's room keeps its members, settings and secret. On main each landed
there by the room's key: the held join made dave a member of carol's private room (he read
her secret), the invitation let him in, the topic and settings were alice's, the room turned
public, and the kick and ban put dave out of carol's room (ban: banned there)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.contract.test_room_deletion import Node, node  # noqa: F401 (the fixture)
from torbit.core.mutes import Mutes
from torbit.core.roomsettings import SettingsChange
from torbit.errors import Forbidden, NotFound

SECRET = "carol's secret"


def hold(n: Node, method: str, step: Callable[[], Awaitable[None]]) -> None:
    """The store's `method` runs `step` first, once: the act has passed its checks."""
    real = getattr(n.store, method)
    done = False

    async def held(*args: Any, **kw: Any) -> Any:
        nonlocal done
        if not done:
            done = True
            await step()
        return await real(*args, **kw)

    setattr(n.store, method, held)


async def remade(n: Node, *, private: bool = True, joins: str = "") -> None:
    """alice deletes #den; carol makes it again and says a secret there (`joins` joins)."""
    await n.deletion.delete("alice", "den")
    await n.moderation.create("carol", "den", private=private)
    if joins:
        await n.login(joins, "den")
    await n.messaging.send("carol", "den", SECRET)


async def carols_room_is_hers(n: Node, *, private: bool = True, members: list[str]) -> None:
    room = await n.store.get_room("den")
    assert room is not None and room.owner == "carol"
    assert room.private is private and room.topic == ""
    assert room.settings.join_key == "" and not room.settings.moderated
    assert await n.store.list_members("den") == members
    assert await n.store.list_bans("den") == []
    assert await n.store.invited_rooms("dave") == []


@pytest.fixture
async def den(node: Node) -> Node:  # noqa: F811
    await node.moderation.create("alice", "den")
    await node.messaging.send("alice", "den", "old")
    return node


async def test_a_held_join_does_not_land_in_the_room_made_again(den: Node) -> None:
    dave = await den.login("dave")
    hold(den, "add_member", lambda: remade(den))
    with pytest.raises((NotFound, Forbidden)):
        await den.membership.join(dave, "den")
    await carols_room_is_hers(den, members=["carol"])
    assert not den.subs.is_listening(dave, "den")
    assert not [line for line in dave.lines if SECRET in line]


async def test_a_held_invitation_does_not_let_anyone_into_the_room_made_again(den: Node) -> None:
    hold(den, "add_invite", lambda: remade(den))
    with pytest.raises(NotFound):
        await den.moderation.invite("alice", "den", "dave")
    await carols_room_is_hers(den, members=["carol"])
    with pytest.raises(NotFound):
        await den.login("dave", "den")


async def test_a_held_topic_or_privacy_change_does_not_land_in_the_room_made_again(
    den: Node,
) -> None:
    hold(den, "update_room", lambda: remade(den))
    with pytest.raises(NotFound):
        await den.moderation.update("alice", "den", topic="alice's", private=False)
    await carols_room_is_hers(den, members=["carol"])


async def test_a_held_settings_change_does_not_land_in_the_room_made_again(den: Node) -> None:
    hold(den, "update_room", lambda: remade(den))
    change = SettingsChange(join_key="alices", moderated=True)
    with pytest.raises(NotFound):
        await den.moderation.configure("alice", "den", change)
    await carols_room_is_hers(den, members=["carol"])


@pytest.mark.parametrize("act", ["kick", "ban"])
async def test_a_held_kick_or_ban_does_not_land_in_the_room_made_again(den: Node, act: str) -> None:
    await den.login("dave", "den")
    hold(den, "expel", lambda: remade(den, private=False, joins="dave"))
    with pytest.raises(NotFound):
        await getattr(den.moderation, act)("alice", "den", "dave")
    await carols_room_is_hers(den, private=False, members=["carol", "dave"])


@pytest.mark.parametrize("act", ["op", "voice"])
async def test_a_held_op_or_voice_does_not_land_in_the_room_made_again(den: Node, act: str) -> None:
    """On main dave, in both rooms, was made an admin of carol's room by alice (voiced)."""
    await den.login("dave", "den")
    method = "set_room_admin" if act == "op" else "set_voice"
    hold(den, method, lambda: remade(den, private=False, joins="dave"))
    with pytest.raises(NotFound):
        await getattr(den.moderation, act)("alice", "den", "dave")
    await carols_room_is_hers(den, private=False, members=["carol", "dave"])
    assert await den.store.list_room_admins("den") == []
    assert await den.store.list_voiced("den") == []


async def test_a_held_mute_does_not_land_in_the_room_made_again(den: Node) -> None:
    """On main alice's mute of dave was written into carol's room (204): this node dropped
    it, set before the room was made, but the row stayed to its end, and a node started
    meanwhile loads the store's mutes as set at its start: dave was silenced there."""
    await den.login("dave", "den")
    hold(den, "set_mute", lambda: remade(den, private=False, joins="dave"))
    with pytest.raises(NotFound, match="deleted meanwhile"):
        await den.moderation.mute("alice", "den", "dave", 10)
    await carols_room_is_hers(den, private=False, members=["carol", "dave"])
    assert await den.store.active_mutes(datetime.now(UTC)) == []
    await den.messaging.send("dave", "den", "not muted here")
    started = Mutes()  # a node started now
    started.load(await den.store.active_mutes(datetime.now(UTC)), datetime.now(UTC))
    room = await den.store.get_room("den")
    assert room is not None
    started.check(room, "dave", datetime.now(UTC))


@pytest.mark.parametrize("carol_mutes", [False, True], ids=["no mute", "carol's mute"])
async def test_a_held_unmute_is_refused_and_leaves_the_room_made_again(
    den: Node, carol_mutes: bool
) -> None:
    """alice's unmute of dave, checked in her #den, is held at its store write while the room
    is deleted and made again by carol (who mutes dave there, or not). On main it answered
    done (204) for a room gone, its audit row after the room's deletion (attack2_58), and it
    lifted carol's mute of dave in her room: the store's row gone, every node told. It is
    refused as the old room's now, as every other act ("deleted meanwhile", 404)."""
    await den.login("dave", "den")
    await den.moderation.mute("alice", "den", "dave", 10)

    async def step() -> None:
        await remade(den, private=False, joins="dave")
        if carol_mutes:
            await den.moderation.mute("carol", "den", "dave", 10)

    hold(den, "remove_mute", step)
    with pytest.raises(NotFound, match=r"^no such room #den \(it was deleted meanwhile\)$"):
        await den.moderation.unmute("alice", "den", "dave")
    await carols_room_is_hers(den, private=False, members=["carol", "dave"])
    stored = await den.store.active_mutes(datetime.now(UTC), of=("den", "dave"))
    assert [m.user_key for m in stored] == (["dave"] if carol_mutes else [])
    assert (den.mutes.until("den", "dave") is not None) is carol_mutes
    audit = await den.store.list_audit("den", 100)
    assert [(e.actor, e.action) for e in audit if e.action in ("mute", "unmute")] == (
        [("carol", "mute"), ("alice", "mute")] if carol_mutes else [("alice", "mute")]
    )
