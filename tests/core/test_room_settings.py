"""Room settings through the core alone (core/roomsettings.py): the join key, the member limit,
the topic lock, messages from non-members and moderated rooms, who may change them, how a
change is told, and that another node's change reaches this node's copy."""

from __future__ import annotations

import asyncio

import pytest

from tests.core.conftest import Core
from torbit.core.events import RoomSettingsChanged
from torbit.core.roomsettings import SettingsChange, key_opens, parse_change
from torbit.errors import BadKey, Forbidden, InvalidInput, NotFound, RoomFull


async def hall(core: Core, *members: str) -> None:
    """#hall owned by alice; `members` join it."""
    for name in ("alice", "bob", "carol", "dave", *members):
        if await core.store.get_user(name) is None:
            await core.user(name)
    await core.moderation.create("alice", "hall")
    for name in members:
        await core.membership.become_member(name, "hall")


async def test_a_join_key_keeps_out_who_does_not_have_it(core: Core) -> None:
    await hall(core)
    room, changed = await core.moderation.configure(
        "alice", "hall", SettingsChange(join_key="beer")
    )
    assert changed == ["+key=beer"] and room.settings.join_key == "beer"
    for wrong in ("", "bees", "BEER", "beer ", "bee"):
        with pytest.raises(BadKey):
            await core.membership.become_member("bob", "hall", wrong)
    assert not await core.membership.is_member("bob", "hall")
    await core.membership.become_member("bob", "hall", "beer")
    assert await core.membership.is_member("bob", "hall")
    await core.moderation.invite("alice", "hall", "carol")  # invitees need no key
    await core.membership.become_member("carol", "hall")
    await core.moderation.configure("alice", "hall", SettingsChange(join_key=""))
    await core.membership.become_member("dave", "hall")


async def test_the_key_is_shown_to_members_only(core: Core) -> None:
    await hall(core, "bob")
    await core.moderation.configure("alice", "hall", SettingsChange(join_key="beer"))
    assert (await core.moderation.room_settings("bob", "hall")).settings.join_key == "beer"
    with pytest.raises(Forbidden):
        await core.moderation.room_settings("carol", "hall")
    audit = await core.moderation.audit("alice", "hall")
    assert audit[0].action == "settings" and "beer" not in audit[0].detail


async def test_a_member_limit_holds_against_parallel_joins(core: Core) -> None:
    await hall(core)
    names = [f"user{i}" for i in range(12)]
    for name in names:
        await core.user(name)
    await core.moderation.configure("alice", "hall", SettingsChange(member_limit=5))
    results = await asyncio.gather(
        *(core.membership.become_member(n, "hall") for n in names), return_exceptions=True
    )
    assert all(isinstance(r, RoomFull) for r in results if isinstance(r, BaseException))
    assert len(await core.store.list_members("hall")) == 5  # alice and 4 of them
    await core.moderation.invite("alice", "hall", "bob")  # an invitation passes the limit
    await core.membership.become_member("bob", "hall")
    assert len(await core.store.list_members("hall")) == 6
    await core.moderation.configure("alice", "hall", SettingsChange(member_limit=0))
    await core.membership.become_member("carol", "hall")


async def test_values_are_checked_before_anything_changes(core: Core) -> None:
    await hall(core)
    for change in (
        SettingsChange(join_key="with space"),
        SettingsChange(join_key="x" * 33),
        SettingsChange(join_key="a,b"),
        SettingsChange(join_key="caf\u00e9"),
        SettingsChange(member_limit=-1),
        SettingsChange(member_limit=10**9),
    ):
        with pytest.raises(InvalidInput):
            await core.moderation.configure("alice", "hall", change)
    assert (await core.membership.room("hall")).settings.join_key == ""
    with pytest.raises(InvalidInput):
        parse_change("limit", "abc")
    with pytest.raises(InvalidInput, match="no setting 'volume': key, limit, topic-lock"):
        parse_change("volume", "on")
    with pytest.raises(InvalidInput, match="no setting 'foo'"):  # was "usage: /set foo on|off"
        parse_change("foo", "bar")
    with pytest.raises(InvalidInput, match=r"usage: /set moderated on\|off$"):
        parse_change("moderated", "yes")
    assert parse_change("outsiders", "on") == SettingsChange(no_external=False)


async def test_only_room_admins_change_settings_and_only_the_owner_privacy(core: Core) -> None:
    await hall(core, "bob", "carol")
    await core.moderation.op("alice", "hall", "bob")
    with pytest.raises(Forbidden, match="only room admins"):
        await core.moderation.configure("carol", "hall", SettingsChange(moderated=True))
    with pytest.raises(Forbidden):
        await core.moderation.configure("dave", "hall", SettingsChange(join_key="x"))
    with pytest.raises(Forbidden, match="only the owner"):  # nothing changes: all or none
        await core.moderation.configure("bob", "hall", SettingsChange(moderated=True, private=True))
    assert not (await core.membership.room("hall")).settings.moderated
    _, changed = await core.moderation.configure("bob", "hall", SettingsChange(moderated=True))
    assert changed == ["+moderated"]
    _, again = await core.moderation.configure("bob", "hall", SettingsChange(moderated=True))
    assert again == []  # no change, no notice


async def test_one_change_of_several_settings_is_one_notice(core: Core) -> None:
    await hall(core)
    alice = await core.login("alice", room="hall")
    _, changed = await core.moderation.configure(
        "alice",
        "hall",
        SettingsChange(private=True, member_limit=3, topic_lock=False, no_external=False),
    )
    assert changed == ["+private", "+limit=3", "-topic_lock", "-no_external"]
    notices = [line for line in alice.lines if "changed #hall" in line]
    assert notices == [
        "* alice changed #hall: made it private (invite-only), limited it to 3 members, "
        "let any member set the topic, let non-members send"
    ]


async def test_a_moderated_room_lets_only_its_admins_speak(core: Core) -> None:
    await hall(core, "bob", "carol")
    await core.moderation.op("alice", "hall", "carol")
    room = await core.membership.room("hall")
    await core.messaging.send("bob", "hall", "before")
    await core.moderation.configure("alice", "hall", SettingsChange(moderated=True))
    with pytest.raises(Forbidden, match="moderated"):
        await core.messaging.send("bob", "hall", "x")
    with pytest.raises(Forbidden, match="moderated"):
        await core.messaging.send_while_listening("bob", room, ["x"])
    await core.messaging.send("carol", "hall", "admin")
    await core.messaging.send("alice", "hall", "owner")
    await core.moderation.configure("alice", "hall", SettingsChange(moderated=False))
    await core.messaging.send("bob", "hall", "after")


async def test_another_nodes_change_reaches_this_nodes_copy(core: Core) -> None:
    """The cache is dropped by the event alone: a change written to the store by another
    node is seen here once its event arrives, not before."""
    await hall(core, "bob")
    room = await core.membership.room("hall")
    await core.messaging.send_while_listening("bob", room, ["warm the cache"])
    stored = await core.store.get_room("hall")
    assert stored is not None
    moderated = stored.settings.__class__(moderated=True)
    await core.store.update_room("hall", settings=moderated)  # as another node would
    await core.messaging.send_while_listening("bob", room, ["still the old copy"])
    core.events.apply(RoomSettingsChanged("hall"))
    with pytest.raises(Forbidden, match="moderated"):
        await core.messaging.send_while_listening("bob", room, ["x"])


async def test_the_topic_lock_off_lets_any_member_set_the_topic(core: Core) -> None:
    await hall(core, "bob")
    with pytest.raises(Forbidden, match="only room admins of #hall may /topic"):
        await core.moderation.update("bob", "hall", topic="mine")
    await core.moderation.configure("alice", "hall", SettingsChange(topic_lock=False))
    room = await core.moderation.update("bob", "hall", topic="mine")
    assert room.topic == "mine"
    with pytest.raises(Forbidden, match="not a member"):
        await core.moderation.update("carol", "hall", topic="outsider")


async def test_no_external_off_lets_non_members_send_to_public_rooms_only(core: Core) -> None:
    await hall(core, "bob")
    with pytest.raises(Forbidden, match="not a member"):
        await core.messaging.send("carol", "hall", "x")
    await core.moderation.configure("alice", "hall", SettingsChange(no_external=False))
    sent = await core.messaging.send("carol", "hall", "from outside")
    assert sent.sender == "carol" and not await core.membership.is_member("carol", "hall")
    await core.moderation.ban("alice", "hall", "dave")
    with pytest.raises(Forbidden, match="banned"):
        await core.messaging.send("dave", "hall", "x")
    await core.moderation.configure("alice", "hall", SettingsChange(private=True))
    with pytest.raises(NotFound):  # a private room stays unknown to outsiders
        await core.messaging.send("carol", "hall", "x")
    await core.moderation.configure("alice", "hall", SettingsChange(private=False, moderated=True))
    with pytest.raises(Forbidden, match="moderated"):
        await core.messaging.send("carol", "hall", "x")


def test_key_comparison() -> None:
    from torbit.core.models import RoomSettings

    assert key_opens(RoomSettings(), "anything")
    assert key_opens(RoomSettings(join_key="k"), "k")
    assert not key_opens(RoomSettings(join_key="k"), "")
    assert not key_opens(RoomSettings(join_key="k"), "K")
