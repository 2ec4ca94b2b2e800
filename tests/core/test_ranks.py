"""Ranks hold (issue 10, item 11): mutes and bans apply to room admins and owners too; nobody
lifts their own, only a higher rank does (a server admin above an owner); a muted user cannot
talk through the topic; a banned owner has no rights left in the room until a server admin
unbans them. And no existence oracle (item 13): creating a room whose name is taken answers
the same whether it is public or private, and whoever asks."""

from __future__ import annotations

import pytest

from tests.core.conftest import Core
from torbit.errors import Conflict, Forbidden, NotFound


@pytest.fixture
async def hall(core: Core) -> Core:
    """alice owns #hall; bob and dave are its admins, carol a member; root a server admin."""
    for name in ("alice", "bob", "carol", "dave"):
        await core.user(name)
    await core.user("root", admin=True)
    await core.moderation.create("alice", "hall")
    for name in ("bob", "carol", "dave"):
        await core.membership.become_member(name, "hall")
    await core.moderation.op("alice", "hall", "bob")
    await core.moderation.op("alice", "hall", "dave")
    return core


async def test_a_muted_admin_is_silent_everywhere_and_cannot_lift_the_mute(hall: Core) -> None:
    core = hall
    await core.moderation.mute("alice", "hall", "bob", 10)
    with pytest.raises(Forbidden, match="muted"):
        await core.messaging.send("bob", "hall", "I am still here")
    with pytest.raises(Forbidden, match="muted"):
        await core.moderation.update("bob", "hall", topic="talking through the topic")
    with pytest.raises(Forbidden, match="cannot /unmute yourself"):
        await core.moderation.unmute("bob", "hall", "bob")
    with pytest.raises(Forbidden, match="rank as high as you"):
        await core.moderation.unmute("dave", "hall", "bob")  # an equal
    assert (await core.membership.room("hall")).topic == ""
    # still an admin in every other way: may act on those below
    await core.moderation.mute("bob", "hall", "carol", 5)
    with pytest.raises(Forbidden, match="only room admins"):
        await core.moderation.unmute("carol", "hall", "carol")
    await core.moderation.unmute("bob", "hall", "carol")
    await core.moderation.unmute("alice", "hall", "bob")  # the owner outranks him
    await core.messaging.send("bob", "hall", "back")


async def test_only_a_server_admin_mutes_or_unmutes_an_owner(hall: Core) -> None:
    core = hall
    with pytest.raises(Forbidden, match="rank as high as you"):
        await core.moderation.mute("bob", "hall", "alice", 10)
    await core.moderation.mute("root", "hall", "alice", 10)
    with pytest.raises(Forbidden, match="muted"):
        await core.messaging.send("alice", "hall", "my room")
    with pytest.raises(Forbidden, match="muted"):
        await core.moderation.update("alice", "hall", topic="my room, my topic")
    with pytest.raises(Forbidden, match="cannot /unmute yourself"):
        await core.moderation.unmute("alice", "hall", "alice")
    with pytest.raises(Forbidden, match="rank as high as you"):
        await core.moderation.unmute("bob", "hall", "alice")
    await core.moderation.unmute("root", "hall", "alice")
    await core.moderation.update("alice", "hall", topic="mine again")


async def test_a_banned_owner_has_no_rights_until_a_server_admin_unbans_them(
    hall: Core,
) -> None:
    core = hall
    with pytest.raises(Forbidden, match="rank as high as you"):
        await core.moderation.ban("bob", "hall", "alice")
    await core.moderation.ban("root", "hall", "alice")
    for attempt in (
        core.moderation.unban("alice", "hall", "alice"),
        core.moderation.kick("alice", "hall", "bob"),
        core.moderation.ban("alice", "hall", "bob"),
        core.moderation.mute("alice", "hall", "carol", 5),
        core.moderation.update("alice", "hall", topic="still mine"),
        core.moderation.update("alice", "hall", private=True),
        core.moderation.op("alice", "hall", "carol"),
        core.moderation.deop("alice", "hall", "bob"),
        core.moderation.invite("alice", "hall", "carol"),
        core.moderation.audit("alice", "hall"),
    ):
        with pytest.raises(Forbidden, match="not a member"):
            await attempt
    with pytest.raises(Forbidden, match="banned"):
        await core.membership.become_member("alice", "hall")
    with pytest.raises(Forbidden, match="rank as high as you"):
        await core.moderation.unban("bob", "hall", "alice")  # an admin cannot overrule
    room = await core.membership.room("hall")
    assert (room.topic, room.private) == ("", False)
    await core.moderation.unban("root", "hall", "alice")
    await core.membership.become_member("alice", "hall")
    await core.moderation.update("alice", "hall", topic="mine again")  # still the owner


async def test_a_banned_owner_of_a_private_room_finds_no_room(hall: Core) -> None:
    core = hall
    await core.moderation.update("alice", "hall", private=True)
    await core.moderation.ban("root", "hall", "alice")
    with pytest.raises(NotFound):
        await core.moderation.unban("alice", "hall", "alice")
    with pytest.raises(NotFound):
        await core.moderation.kick("alice", "hall", "bob")


async def test_a_banned_admin_cannot_unban_themselves_and_comes_back_a_member(
    hall: Core,
) -> None:
    core = hall
    await core.moderation.ban("alice", "hall", "bob")
    with pytest.raises(Forbidden, match="not a member"):
        await core.moderation.unban("bob", "hall", "bob")
    with pytest.raises(Forbidden, match="not a member"):
        await core.moderation.kick("bob", "hall", "carol")
    # a ban ends the membership and the admin rights with it: another admin may lift it,
    # and bob comes back a plain member
    await core.moderation.unban("dave", "hall", "bob")
    await core.membership.become_member("bob", "hall")
    with pytest.raises(Forbidden, match="only room admins"):
        await core.moderation.kick("bob", "hall", "carol")


async def test_nobody_acts_on_themselves(hall: Core) -> None:
    core = hall
    for action in (core.moderation.kick, core.moderation.ban, core.moderation.unban):
        with pytest.raises(Forbidden, match="yourself"):
            await action("bob", "hall", "bob")
    with pytest.raises(Forbidden, match="yourself"):
        await core.moderation.mute("bob", "hall", "bob", 5)
    with pytest.raises(Forbidden, match="yourself"):
        await core.moderation.deop("alice", "hall", "alice")


async def test_a_taken_room_name_answers_the_same_whatever_the_room(core: Core) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    await core.user("root", admin=True)
    await core.moderation.create("alice", "secret", private=True)
    await core.moderation.invite("alice", "secret", "bob")
    await core.moderation.create("alice", "open")
    answers: set[str] = set()
    for who in ("alice", "bob", "carol", "root"):  # owner, invitee, stranger, server admin
        for name in ("secret", "SECRET", "open", "Open"):
            with pytest.raises(Conflict) as caught:
                await core.moderation.create(who, name, private=name.islower())
            answers.add(caught.value.message.replace(name, "NAME"))
    assert answers == {"the room name #NAME is taken"}
    # and nothing was created or changed by the attempts
    assert (await core.membership.room("secret")).private
    assert not (await core.membership.room("open")).private


async def test_an_admin_may_step_down_but_the_owner_cannot(hall: Core) -> None:
    core = hall
    assert await core.moderation.deop("bob", "hall", "BOB") == "bob"  # IRC's MODE #hall -o bob
    with pytest.raises(Forbidden, match="only room admins"):
        await core.moderation.kick("bob", "hall", "carol")  # a member again
    with pytest.raises(NotFound, match="not an admin"):
        await core.moderation.deop("bob", "hall", "bob")
    with pytest.raises(NotFound, match="not an admin"):
        await core.moderation.deop("carol", "hall", "carol")
    with pytest.raises(Forbidden, match="you own #hall"):
        await core.moderation.deop("alice", "hall", "alice")
    await core.moderation.kick("dave", "hall", "carol")  # the other admin keeps their rights
