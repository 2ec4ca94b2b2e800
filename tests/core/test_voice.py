"""Voice through the core alone: a voiced member speaks in a moderated room; room admins give
and take voices (a member may drop their own), nobody else; the voice is the membership's,
so leaving, a kick or a ban ends it; every change is told to the room and audited."""

from __future__ import annotations

import pytest

from tests.core.conftest import Core
from tests.core.test_room_settings import hall
from torbit.core.roomsettings import SettingsChange
from torbit.errors import Conflict, Forbidden, NotFound


async def moderated_hall(core: Core, *members: str) -> None:
    await hall(core, *members)
    await core.moderation.configure("alice", "hall", SettingsChange(moderated=True))


async def test_a_voiced_member_speaks_in_a_moderated_room_until_devoiced(core: Core) -> None:
    await moderated_hall(core, "bob", "carol")
    room = await core.membership.room("hall")
    alice = await core.login("alice", room="hall")
    await core.moderation.voice("alice", "hall", "Bob")
    assert "* alice gave bob a voice in #hall" in alice.lines  # the name as registered
    await core.messaging.send("bob", "hall", "voiced")
    await core.messaging.send_while_listening("bob", room, ["voiced, listening"])
    with pytest.raises(Forbidden, match="moderated: only its admins and voiced members"):
        await core.messaging.send("carol", "hall", "not voiced")
    await core.moderation.devoice("alice", "hall", "bob")
    assert "* alice took bob's voice in #hall" in alice.lines
    with pytest.raises(Forbidden, match="moderated"):  # at once, on the listening path too
        await core.messaging.send_while_listening("bob", room, ["devoiced"])
    actions = [e.action for e in await core.moderation.audit("alice", "hall")]
    assert actions[:2] == ["devoice", "voice"]


async def test_only_room_admins_give_or_take_voices(core: Core) -> None:
    await hall(core, "bob", "carol")
    with pytest.raises(Forbidden, match="only room admins of #hall may /voice"):
        await core.moderation.voice("bob", "hall", "bob")  # not even themselves
    with pytest.raises(Forbidden, match="only room admins"):
        await core.moderation.voice("bob", "hall", "carol")
    with pytest.raises(Forbidden, match="not a member"):  # dave is not in the room
        await core.moderation.voice("dave", "hall", "carol")
    await core.moderation.voice("alice", "hall", "carol")
    with pytest.raises(Forbidden, match="only room admins of #hall may /devoice"):
        await core.moderation.devoice("bob", "hall", "carol")
    with pytest.raises(Conflict, match="already has a voice"):
        await core.moderation.voice("alice", "hall", "carol")
    await core.moderation.op("alice", "hall", "bob")  # an admin voices any member, itself too
    await core.moderation.voice("bob", "hall", "bob")
    await core.moderation.voice("bob", "hall", "alice")
    assert await core.membership.voiced(await core.membership.room("hall")) == {
        "alice",
        "bob",
        "carol",
    }
    await core.moderation.devoice("carol", "hall", "carol")  # giving up one's own
    with pytest.raises(Conflict, match="has no voice"):
        await core.moderation.devoice("carol", "hall", "carol")
    with pytest.raises(NotFound, match="not a member"):
        await core.moderation.voice("alice", "hall", "dave")


async def test_a_voice_does_not_survive_the_membership(core: Core) -> None:
    await moderated_hall(core, "bob", "carol", "dave")
    for name in ("bob", "carol", "dave"):
        await core.moderation.voice("alice", "hall", name)
    await core.membership.leave("bob", "hall")
    await core.moderation.kick("alice", "hall", "carol")
    await core.moderation.ban("alice", "hall", "dave")
    await core.moderation.unban("alice", "hall", "dave")
    for name in ("bob", "carol", "dave"):
        await core.membership.become_member(name, "hall")
        with pytest.raises(Forbidden, match="moderated"):
            await core.messaging.send(name, "hall", "back, voiced?")
    assert await core.membership.voiced(await core.membership.room("hall")) == set()
