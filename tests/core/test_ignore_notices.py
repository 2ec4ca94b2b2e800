"""Ignoring someone silences them entirely (issue 10, item 9): not only their messages but
every notice that names them (joins and leaves, invitations, topic changes, moderation they
do or undergo) never reaches the user who ignores them; someone else still sees it all. A
repeated invitation changes nothing and tells nobody. Absence is checked after a marker that
the same path delivers later."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.core.conftest import Core, Recorder
from torbit.core.events import RoomNotice, encode
from torbit.core.models import Message, MessageKind
from torbit.core.names import EVENTS_CHANNEL


def notices(session: Recorder) -> list[str]:
    return [line[2:] for line in session.lines if line.startswith("* ")]


async def marker(core: Core, room: str = "lobby") -> None:
    """A notice everyone listening to the room gets, after anything sent before it."""
    core.subscriptions.notify(room, "marker")


async def test_joins_and_leaves_of_an_ignored_user_are_not_shown(core: Core) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    alice, carol = await core.login("alice"), await core.login("carol")
    await core.ignores.ignore("alice", "bob")
    bob = await core.login("bob")
    await core.membership.stop_listening(bob, "lobby")
    await core.membership.join(bob, "lobby")
    await core.sessions.logout(bob)
    await marker(core)
    assert notices(alice)[-1] == "marker"
    assert not [n for n in notices(alice) if "bob" in n]
    assert [n for n in notices(carol) if "bob" in n] == [
        "bob joined #lobby",
        "bob left #lobby",
        "bob joined #lobby",
        "bob left #lobby",
    ]


async def test_an_ignored_users_invitations_never_arrive_and_repeats_are_silent(
    core: Core,
) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    alice = await core.login("alice", room=None)
    carol = await core.login("carol", room=None)
    await core.login("bob", room=None)
    await core.moderation.create("bob", "den", private=True)
    await core.ignores.ignore("alice", "bob")
    for _ in range(20):
        await core.moderation.invite("bob", "den", "alice")
        await core.moderation.invite("bob", "den", "carol")
    await core.messaging.send_private("bob", "alice", "marker")  # also ignored: use carol's
    await core.messaging.send_private("carol", "alice", "marker")
    assert alice.texts()[-1] == "<carol> marker"
    assert notices(alice) == []
    # the invitation itself stands: alice may join if she wants
    await core.membership.join(alice, "den")
    # carol, who ignores nobody, was told once, however many times she was invited
    assert notices(carol) == ["bob invited you to #den: /join den"]
    entries = await core.store.list_audit("den")
    assert [(e.action, e.target) for e in entries].count(("invite", "carol")) == 1
    assert [(e.action, e.target) for e in entries].count(("invite", "alice")) == 1


async def test_topic_and_moderation_notices_naming_an_ignored_user_are_not_shown(
    core: Core,
) -> None:
    for name in ("alice", "bob", "carol", "dave"):
        await core.user(name)
    await core.login("bob", room=None)
    await core.moderation.create("bob", "hall")
    alice, carol = await core.login("alice", "hall"), await core.login("carol", "hall")
    dave = await core.login("dave", "hall")
    await core.ignores.ignore("alice", "bob")  # the actor
    await core.ignores.ignore("carol", "dave")  # the one acted upon
    seen = len(alice.lines), len(carol.lines)
    await core.moderation.update("bob", "hall", topic="bob's rules")
    await core.moderation.update("bob", "hall", private=True)
    await core.moderation.update("bob", "hall", private=False)
    await core.moderation.op("bob", "hall", "carol")
    await core.moderation.deop("bob", "hall", "carol")
    await core.moderation.mute("bob", "hall", "dave", 5)
    await core.moderation.unmute("bob", "hall", "dave")
    await core.moderation.kick("bob", "hall", "dave")
    await marker(core, "hall")
    alice.lines, carol.lines = alice.lines[seen[0] :], carol.lines[seen[1] :]
    assert notices(alice) == ["marker"]  # every other notice named bob
    assert notices(carol) == [
        "bob set the topic of #hall: bob's rules",
        "bob made #hall private (invite-only)",
        "bob made #hall public",
        "bob made carol an admin of #hall",
        "bob took carol's admin rights in #hall",
        "marker",
    ]
    # dave, who ignores no one, saw what happened to him
    assert "you were kicked from #hall by bob" in notices(dave)


async def test_the_kicked_are_told_even_by_someone_they_ignore(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    await core.login("alice", room=None)
    await core.moderation.create("alice", "hall")
    bob = await core.login("bob", "hall")
    await core.ignores.ignore("bob", "alice")
    await core.moderation.kick("alice", "hall", "bob")
    assert "you were kicked from #hall by alice" in notices(bob)
    assert not core.subscriptions.is_listening(bob, "hall")


async def test_notices_from_another_node_are_filtered_the_same_way(core: Core) -> None:
    """A RoomNotice that arrives from the log (another node's) carries its names."""
    for name in ("alice", "carol"):
        await core.user(name)
    alice, carol = await core.login("alice"), await core.login("carol")
    await core.ignores.ignore("alice", "carol")
    text = encode(
        RoomNotice("lobby", "carol set the topic of #lobby: hi", about=("carol",)), "other"
    )
    core.subscriptions.route(
        Message(1, EVENTS_CHANNEL, "torbit", text, datetime.now(UTC), MessageKind.EVENT)
    )
    await marker(core)
    assert "carol set the topic of #lobby: hi" not in notices(alice)
    assert "carol set the topic of #lobby: hi" in notices(carol)
