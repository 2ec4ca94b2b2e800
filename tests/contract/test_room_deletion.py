"""Room deletion (core/roomdeletion.py) on each SQL store with its message log: what goes with
the room, who may delete it, what the sessions in it are told, and that a room made again
under the name starts clean (no messages, cursors, mutes, bans, invitations or rights of the
old one), with the deletion racing joins and sends. The operator's deletion (the CLI's) reaches
the nodes through the store's feed. On main there was no room deletion service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC

import pytest

from tests.core.conftest import Recorder
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.sql import SqlStore
from torbit.core.events import NodeEvents
from torbit.core.ignores import Ignores
from torbit.core.joinchecks import RoomRules
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.models import Room, User
from torbit.core.moderation import Moderation
from torbit.core.mutes import Mutes
from torbit.core.revocation import Revocations
from torbit.core.roomdeletion import RoomDeletion, delete_by_operator
from torbit.core.sessions import Proof, Sessions
from torbit.core.subscriptions import Subscriptions
from torbit.errors import Forbidden, NotFound


@dataclass
class Node:
    store: SqlStore
    log: SqlLog
    subs: Subscriptions
    sessions: Sessions
    membership: Membership
    messaging: Messaging
    moderation: Moderation
    deletion: RoomDeletion
    revocations: Revocations
    mutes: Mutes
    events: NodeEvents

    async def user(self, name: str, *, admin: bool = False) -> None:
        from datetime import datetime

        await self.store.create_user(User(name, "x", datetime.now(UTC), is_admin=admin))

    async def login(self, name: str, room: str | None = None) -> Recorder:
        session = Recorder(name)
        user = await self.store.get_user(name.lower())
        assert user is not None
        await self.sessions.login(session, name, Proof(user.credential))
        if room is not None:
            await self.membership.join(session, room)
        return session


@pytest.fixture
async def node(store: SqlStore) -> AsyncIterator[Node]:
    log = SqlLog(store)
    events = NodeEvents(log)
    subs = Subscriptions(log, UTC, on_event=events.receive)
    sessions = Sessions(store, subs, presence_notices_max=100)
    membership = Membership(store, log, subs, sessions, RoomRules(history_on_join=5), events=events)
    mutes = Mutes()
    messaging = Messaging(store, log, membership, Ignores(store, subs, events), mutes)
    moderation = Moderation(store, membership, subs, events, mutes)
    deletion = RoomDeletion(store, log, membership, subs, events, mutes)
    revocations = Revocations(store, sessions, events, mutes)
    await moderation.start()
    await log.start(subs.route, subs.route_all)
    await events.start()
    await revocations.start()
    n = Node(store, log, subs, sessions, membership, messaging, moderation, deletion,
             revocations, mutes, events)  # fmt: skip
    for name in ("alice", "bob", "carol", "dave"):
        await n.user(name)
    await n.user("root", admin=True)
    yield n
    await subs.close()
    await log.close()


async def test_the_owner_deletes_it_with_all_it_holds_and_its_sessions_are_told(
    node: Node,
) -> None:
    await node.moderation.create("alice", "den")
    bob = await node.login("bob", "den")
    carol = await node.login("carol", "den")
    await node.messaging.send("bob", "den", "hello")
    await node.moderation.op("alice", "den", "carol")
    await node.moderation.mute("alice", "den", "bob", 10)
    await node.moderation.ban("alice", "den", "dave")
    await node.moderation.invite("alice", "den", "root")
    await node.messaging.receive_from("carol", "den", 10)  # a cursor
    waiting = Recorder("")
    waiting.user_key = ""  # a long poll's listener: belongs to no user
    await node.subs.listen(waiting, "den")

    await node.deletion.delete("alice", "den")

    for s in (bob, carol):
        assert s.lines[-1] == "* #den was deleted by alice", s.lines
        assert not node.subs.is_listening(s, "den")
    assert waiting.closed == "#den was deleted by alice"  # woken: its read finds no room
    assert node.subs.listener_count("den") == 0
    assert await node.store.get_room("den") is None
    assert await node.store.rooms_of("bob") == [] and await node.store.rooms_of("carol") == []
    assert await node.store.get_cursor("carol", "den") is None
    assert await node.store.list_bans("den") == []
    assert await node.store.invited_rooms("root") == []
    assert await node.log.read("den", limit=10) == []
    assert len(node.mutes) == 0
    assert [(e.actor, e.action) for e in await node.store.list_audit("den", 1)] == [
        ("alice", "delroom")
    ]
    for attempt in (
        node.messaging.send("bob", "den", "still there?"),
        node.messaging.receive_from("carol", "den", 10),
        node.messaging.history("carol", "den"),
    ):
        with pytest.raises(NotFound):
            await attempt
    with pytest.raises(NotFound):  # deleted once
        await node.deletion.delete("alice", "den")


async def test_only_its_owner_or_a_server_admin_may(node: Node) -> None:
    await node.moderation.create("alice", "den")
    await node.login("bob", "den")
    await node.moderation.op("alice", "den", "bob")
    with pytest.raises(Forbidden, match="only the owner of #den may /delroom: you are a room"):
        await node.deletion.delete("bob", "den")
    with pytest.raises(Forbidden, match="you are not a member"):
        await node.deletion.delete("carol", "den")
    await node.moderation.create("alice", "hidden", private=True)
    with pytest.raises(NotFound, match="no such room #hidden"):
        await node.deletion.delete("carol", "hidden")
    # a room nobody owns (a guest's): its admins run it, but may not delete it
    from datetime import datetime

    await node.store.create_room(Room("open", datetime.now(UTC)))
    await node.store.add_member("open", "bob")
    await node.store.set_room_admin("open", "bob", True)
    with pytest.raises(Forbidden, match="you are a room admin"):
        await node.deletion.delete("bob", "open")
    await node.deletion.delete("root", "hidden")
    await node.deletion.delete("root", "den")
    await node.membership.join(await node.login("carol"), "lobby")
    with pytest.raises(Forbidden, match="default room"):
        await node.deletion.delete("root", "lobby")


async def test_a_room_made_again_under_its_name_starts_clean(node: Node) -> None:
    await node.moderation.create("alice", "den")
    bob = await node.login("bob", "den")
    for text in ("one", "two"):
        await node.messaging.send("bob", "den", text)
    assert [m.text for m in (await node.messaging.receive_from("bob", "den", 10))[0]] == [
        "one",
        "two",
    ]
    await node.moderation.mute("alice", "den", "bob", 10)
    await node.moderation.ban("alice", "den", "carol")
    await node.deletion.delete("alice", "den")

    await node.moderation.create("bob", "den")  # the same name, another room: bob's
    await node.membership.join(bob, "den")
    assert await node.messaging.history("bob", "den") == []
    assert (await node.messaging.receive_from("bob", "den", 10))[0] == []
    await node.messaging.send("bob", "den", "new")  # not muted here
    carol = await node.login("carol", "den")  # not banned here
    assert node.subs.is_listening(carol, "den")
    assert [m.text for m in (await node.messaging.receive_from("carol", "den", 10))[0]] == ["new"]
    with pytest.raises(Forbidden):  # alice's ownership went with the old room
        await node.deletion.delete("alice", "den")
    # nor its audit: bob's /audit of his room shows none of the old room's mute, ban and
    # deletion (the store keeps them, by room name, for the operator)
    assert [(e.actor, e.action) for e in await node.moderation.audit("bob", "den")] == [
        ("bob", "create")
    ]
    assert {"mute", "ban", "delroom"} <= {e.action for e in await node.store.list_audit("den")}
    await node.moderation.mute("bob", "den", "carol", 10)
    assert [(e.actor, e.action) for e in await node.moderation.audit("bob", "den")] == [
        ("bob", "mute"),
        ("bob", "create"),
    ]


async def test_a_deletion_racing_joins_and_sends_leaves_no_one_in_the_old_room(
    node: Node,
) -> None:
    await node.moderation.create("alice", "den")
    members = ["bob", "carol", "dave"]
    sessions = [await node.login(name, "den") for name in members]
    created = (await node.store.get_room("den")).created_at  # type: ignore[union-attr]

    async def join(name: str) -> object:
        return await node.membership.join(await node.login(name), "den")

    results = await asyncio.gather(
        *(node.messaging.send(name, "den", f"{name} {i}") for i in range(5) for name in members),
        *(join(name) for name in members),
        node.deletion.delete("alice", "den"),
        *(node.messaging.send(name, "den", f"{name} late {i}") for i in range(5)
          for name in members),
        *(join(name) for name in members),
        return_exceptions=True,
    )  # fmt: skip
    assert not any(isinstance(r, BaseException) and not isinstance(r, NotFound | Forbidden)
                   for r in results), results  # fmt: skip
    room = await node.store.get_room("den")
    members_now = set(await node.store.list_members("den")) if room is not None else set()
    for name in members:
        for s in node.subs.sessions_of(name):
            if node.subs.is_listening(s, "den"):  # only in a room made again since
                assert room is not None and room.created_at > created
                assert name in {m.lower() for m in members_now}
    for s in sessions:
        assert "* #den was deleted by alice" in s.lines
    if room is not None:  # a join made it again: none of the old messages show there
        shown = await node.messaging.history(room.owner or "bob", "den")
        assert all(m.sent_at >= room.created_at for m in shown)
        assert not [m for m in await node.log.read("den", limit=100)
                    if m.sent_at < room.created_at and " late " not in m.text]  # fmt: skip


async def test_the_operators_deletion_reaches_the_node_through_the_store(node: Node) -> None:
    from datetime import datetime

    await node.moderation.create("alice", "den")
    bob = await node.login("bob", "den")
    await node.messaging.send("bob", "den", "hello")
    await delete_by_operator(node.store, node.log, "#den".lstrip("#"), "lobby",
                             lambda: datetime.now(UTC))  # fmt: skip
    assert node.subs.is_listening(bob, "den")  # not a node: told through the store's feed
    assert await node.revocations.poll() == 2  # RoomDeletedAt, then RoomDeleted
    assert node.subs.deletion("den") is not None  # remembered: a late send is refused
    assert bob.lines[-1] == "* #den was deleted by the server's operator"
    assert not node.subs.is_listening(bob, "den")
    assert await node.log.read("den", limit=10) == []
    with pytest.raises(NotFound):
        await node.messaging.send("bob", "den", "still?")
