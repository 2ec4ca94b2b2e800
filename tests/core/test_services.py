"""The chat rules through the core services alone: membership, messaging, ignores,
moderation and the one subscription API, with no socket in sight. Absence is checked with a
marker sent after the message that must not arrive: the log delivers in order, so once the
marker is there, the message would have been too."""

from __future__ import annotations

import pytest

from tests.core.conftest import Core
from torbit.core.models import MessageKind
from torbit.errors import Conflict, Forbidden, NotFound


async def test_join_shows_recent_history_then_live_messages_in_order(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    alice = await core.login("alice")
    for i in range(7):
        await core.messaging.send("alice", "lobby", f"old {i}")
    bob = await core.login("bob")
    await core.messaging.send("alice", "lobby", "new")
    assert bob.texts() == [f"<alice> old {i}" for i in range(2, 7)] + ["<alice> new"]
    assert "* you are in #lobby (2 people here)" in bob.lines
    assert "* bob joined #lobby" in alice.lines


async def test_ignored_senders_are_silent_live_and_in_history(core: Core) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    alice, bob = await core.login("alice"), await core.login("bob")
    await core.login("carol")
    await core.ignores.ignore("alice", "bob")
    await core.messaging.send("bob", "lobby", "you cannot hear me")
    await core.messaging.send("carol", "lobby", "marker")
    assert alice.texts()[-1] == "<carol> marker"
    assert "<bob> you cannot hear me" not in alice.texts()
    assert "<bob> you cannot hear me" in bob.texts()
    history = await core.messaging.history("alice", "lobby")
    assert [m.text for m in history] == ["marker"]
    await core.ignores.unignore("alice", "bob")
    await core.messaging.send("bob", "lobby", "hello again")
    assert alice.texts()[-1] == "<bob> hello again"


async def test_stop_listening_keeps_the_membership_leave_ends_it(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    alice, bob = await core.login("alice"), await core.login("bob")
    await core.membership.stop_listening(bob, "lobby")
    assert not core.subscriptions.is_listening(bob, "lobby")
    assert await core.membership.is_member("bob", "lobby")
    assert "* bob left #lobby" in alice.lines
    await core.messaging.send("bob", "lobby", "still a member")  # may still send
    await core.membership.leave("bob", "lobby")
    with pytest.raises(Forbidden, match="not a member"):
        await core.messaging.send("bob", "lobby", "gone")
    with pytest.raises(Conflict):
        await core.membership.leave("bob", "lobby")


async def test_a_kick_ends_listening_at_once_and_a_ban_keeps_them_out(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    alice = await core.login("alice", room=None)
    room = await core.moderation.create("alice", "hall")
    await core.membership.join(alice, "hall")
    bob = await core.login("bob", room="hall")
    await core.moderation.kick("alice", "hall", "bob")
    assert not core.subscriptions.is_listening(bob, "hall")
    assert "* you were kicked from #hall by alice" in bob.lines
    assert "* bob was kicked from #hall by alice" in alice.lines
    await core.membership.join(bob, "hall")  # a kick is not a ban
    await core.moderation.ban("alice", "hall", "bob")
    with pytest.raises(Forbidden, match="banned"):
        await core.membership.join(bob, "hall")
    with pytest.raises(Forbidden, match="only room admins"):
        await core.moderation.kick("bob", room.name, "alice")


async def test_a_mute_stops_both_send_paths(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    await core.login("alice", room=None)
    await core.moderation.create("alice", "hall")
    await core.login("bob", room="hall")
    room = await core.membership.room("hall")
    await core.moderation.mute("alice", "hall", "bob", 5)
    with pytest.raises(Forbidden, match="muted"):
        await core.messaging.send("bob", "hall", "x")
    with pytest.raises(Forbidden, match="muted"):
        await core.messaging.send_while_listening("bob", room, ["x"])
    await core.moderation.unmute("alice", "hall", "bob")
    sent, dropped = await core.messaging.send_while_listening("bob", room, ["ok"])
    assert [m.text for m in sent] == ["ok"] and dropped == 0


async def test_private_messages_reach_every_session_of_both_users(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    alice = await core.login("alice", room=None)
    bob1, bob2 = await core.login("bob", room=None), await core.login("bob", room=None)
    await core.messaging.send_private("alice", "Bob", "psst")
    for s in (alice, bob1, bob2):
        assert s.texts() == ["<alice> psst"]
    (copy,) = await core.messaging.private_history("alice")
    assert copy.kind is MessageKind.PRIVATE and copy.recipient == "bob"
    with pytest.raises(NotFound):
        await core.messaging.send_private("alice", "nobody", "hi")


async def test_logout_forgets_the_session_and_unwatches_only_its_channels(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    alice, bob = await core.login("alice"), await core.login("bob")
    await core.membership.join(bob, "kitchen")
    assert sorted(core.subscriptions.channels_of(bob)) == ["@bob", "kitchen", "lobby"]
    await core.sessions.logout(bob)
    assert core.subscriptions.channels_of(bob) == []
    assert core.subscriptions.online("lobby") == ["alice"]
    assert core.subscriptions.presence("bob") is None
    assert "* bob left #lobby" in alice.lines


async def test_receive_returns_each_message_once(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    await core.login("alice")
    await core.membership.become_member("bob", "lobby")
    for i in range(3):
        await core.messaging.send("alice", "lobby", f"m{i}")
    assert [m.text for m in await core.messaging.receive("bob", "lobby")] == ["m0", "m1", "m2"]
    assert await core.messaging.receive("bob", "lobby") == []
    await core.messaging.send("alice", "lobby", "m3")
    assert await core.messaging.unread_count("bob", "lobby") == 1
