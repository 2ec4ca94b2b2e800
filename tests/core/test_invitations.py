"""What an invitation lets a stranger do to you (core/invitations.py): a user's pending
invitations are bounded (here 5, `limits.invites_per_user`) and a stranger with many rooms
and several accounts, inviting in parallel, pushes out only their own, never a friend's;
the list is newest first; an ignored user's invitations are neither told nor listed (an
ignore added later hides the ones already there); the invitee may decline one; an inviter
who lost the room's admin role, still logged in, can no longer invite."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from tests.core.conftest import Core
from torbit.core.invitations import Pending, overflow
from torbit.core.models import Invitation
from torbit.errors import Conflict, Forbidden, NotFound

BOUND = 5
T0 = datetime(2026, 12, 3, tzinfo=UTC)


@pytest.fixture
def invites_per_user() -> int:
    return BOUND


async def _setup(core: Core, *inviters: str, rooms: int = 1) -> None:
    for name in ("victim", *inviters):
        await core.user(name)
    for who in inviters:
        for i in range(rooms):
            await core.moderation.create(who, f"{who}-{i}", private=True)


def _listed(pending: list[Pending]) -> list[tuple[str, str]]:
    return [(p.room, p.by) for p in pending]


async def test_a_stranger_with_many_rooms_pushes_out_only_their_own(core: Core) -> None:
    """On main the store held every invitation and listed the first 100 by room name: the
    spammer's rooms `0000-*` hid the friend's. Now the friend's stands, and the list is
    newest first."""
    await _setup(core, "friend", "spammer", rooms=1)
    for i in range(12):
        await core.moderation.create("spammer", f"0000-{i:02}", private=True)
    await core.moderation.invite("friend", "friend-0", "victim")
    for i in range(12):
        await core.moderation.invite("spammer", f"0000-{i:02}", "victim")
    pending = await core.moderation.invitations("victim")
    assert len(await core.store.invitations("victim")) == BOUND
    assert ("friend-0", "friend") in _listed(pending)
    spam = [p.room for p in pending if p.by == "spammer"]
    assert spam == ["0000-11", "0000-10", "0000-09", "0000-08"]  # newest first, the latest
    # the friend invites again later: the newest comes first
    await core.moderation.create("friend", "friend-1", private=True)
    await core.moderation.invite("friend", "friend-1", "victim")
    assert _listed(await core.moderation.invitations("victim"))[:1] == [("friend-1", "friend")]


async def test_several_accounts_in_parallel_stay_within_the_bound(core: Core) -> None:
    """Three spammers, 8 rooms each, all inviting at once: the bound holds, and the friend's
    single invitation outlives them all."""
    spammers = ("sp1", "sp2", "sp3")
    await _setup(core, "friend", *spammers, rooms=8)
    await core.moderation.invite("friend", "friend-0", "victim")
    await asyncio.gather(
        *(core.moderation.invite(s, f"{s}-{i}", "victim") for s in spammers for i in range(8))
    )
    stored = await core.store.invitations("victim")
    assert len(stored) == BOUND
    assert ("friend-0", "friend") in [(i.room_key, i.by) for i in stored]
    held = sorted(sum(1 for i in stored if i.by == s) for s in spammers)
    assert held == [1, 1, 2]  # shared out, none holding more than one above another


async def test_an_ignored_users_invitations_are_hidden_and_go_first(core: Core) -> None:
    """On main an ignored user's invitation was not told but was listed (IRC's INVITE)."""
    await _setup(core, "friend", "pest", rooms=3)
    victim = await core.login("victim", room=None)
    await core.ignores.ignore("victim", "pest")
    await core.moderation.invite("pest", "pest-0", "victim")
    await core.moderation.invite("friend", "friend-0", "victim")
    assert _listed(await core.moderation.invitations("victim")) == [("friend-0", "friend")]
    assert [t for t in victim.texts() if "pest" in t] == []
    # an ignore added later hides those already there; unignoring shows them again
    await core.moderation.invite("friend", "friend-1", "victim")
    await core.ignores.ignore("victim", "friend")
    assert await core.moderation.invitations("victim") == []
    await core.ignores.unignore("victim", "friend")
    assert [p.room for p in await core.moderation.invitations("victim")] == [
        "friend-1",
        "friend-0",
    ]
    # past the bound an ignored inviter's go first, though pest holds fewer than friend
    await core.moderation.invite("friend", "friend-2", "victim")
    await core.moderation.invite("pest", "pest-1", "victim")  # 5: friend 3, pest 2
    await core.moderation.create("friend", "friend-3", private=True)
    await core.moderation.invite("friend", "friend-3", "victim")
    rooms = {i.room_key for i in await core.store.invitations("victim")}
    assert rooms == {"friend-0", "friend-1", "friend-2", "friend-3", "pest-1"}
    # a hidden invitation still admits: an ignore hides, it does not refuse
    await core.membership.join(victim, "pest-1")


async def test_declining_removes_it_and_tells_nobody(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    """Nor the room's audit log, which its admins (the inviter) read: a decline there would
    be a read receipt. The server's log has it (on main: nothing anywhere)."""
    await _setup(core, "friend", rooms=2)
    friend = await core.login("friend", room=None)
    await core.moderation.invite("friend", "friend-0", "victim")
    await core.moderation.invite("friend", "friend-1", "victim")
    before = list(friend.lines)
    audited = await core.store.list_audit("friend-0")
    with caplog.at_level(logging.INFO, logger="torbit.audit"):
        assert await core.moderation.decline("victim", "FRIEND-0") == "friend-0"
    assert "invitation declined: victim to #friend-0" in caplog.messages
    assert await core.store.list_audit("friend-0") == audited
    assert [p.room for p in await core.moderation.invitations("victim")] == ["friend-1"]
    assert friend.lines == before
    with pytest.raises(NotFound, match="no invitation"):
        await core.moderation.decline("victim", "friend-0")
    with pytest.raises(NotFound, match="no invitation"):  # no room: the same answer
        await core.moderation.decline("victim", "nowhere")
    victim = await core.login("victim", room=None)
    with pytest.raises(NotFound):  # a private room declined is closed again
        await core.membership.join(victim, "friend-0")
    await core.moderation.invite("friend", "friend-0", "victim")  # may invite again
    await core.membership.join(victim, "friend-0")


async def test_an_inviter_who_lost_the_admin_role_cannot_invite(core: Core) -> None:
    await _setup(core, "owner", "helper")
    helper = await core.login("helper", room=None)
    await core.moderation.invite("owner", "owner-0", "helper")
    await core.membership.join(helper, "owner-0")
    await core.moderation.op("owner", "owner-0", "helper")
    await core.moderation.invite("helper", "owner-0", "victim")
    await core.moderation.deop("owner", "owner-0", "helper")
    await core.user("other")
    with pytest.raises(Forbidden):  # the session is still open
        await core.moderation.invite("helper", "owner-0", "other")
    assert await core.store.invitations("other") == []


def test_the_overflow_rule() -> None:
    """Ignored inviters' first, then the oldest of whoever holds the most; ties: the oldest
    overall; an unknown inviter ("") counts as one inviter."""

    def inv(room: str, minute: int, by: str) -> Invitation:
        return Invitation(room, T0 + timedelta(minutes=minute), by)

    friend, a1, a2, b1, old = (
        inv("f", 0, "friend"),
        inv("a1", 1, "spam"),
        inv("a2", 2, "Spam"),
        inv("b1", 3, "pest"),
        inv("o", -1, ""),
    )
    pending = [friend, a1, a2, b1, old]
    assert overflow(pending, 5, frozenset()) == []
    assert overflow(pending, 4, frozenset()) == [a1]  # spam holds two (names fold case)
    assert overflow(pending, 3, frozenset()) == [a1, old]  # then all hold one: the oldest
    assert overflow(pending, 4, frozenset({"pest"})) == [b1]
    assert overflow(pending, 0, frozenset()) == [a1, old, friend, a2, b1]


async def test_inviting_a_member_in_by_the_right_admits_them_unless_banned(core: Core) -> None:
    """A server admin in a private room by that right alone (core/demotion.py puts them out
    when it is taken away): the owner's invitation admits them, audited, no invitation left
    pending; a member the room bans (joined by the right past the ban) stays one the
    demotion ends, so that invitation is refused as any member's."""
    await core.user("owner")
    await core.user("carol", admin=True)
    for name in ("den", "yard"):
        await core.moderation.create("owner", name, private=True)
    await core.store.expel("yard", "carol", banned_at=T0)  # banned while not an admin, say
    assert await core.store.add_member("den", "carol", by_right=True)
    assert await core.store.add_member("yard", "carol", by_right=True)
    assert await core.moderation.invite("owner", "den", "carol") == "carol"
    assert await core.store.rooms_joined_by_right("carol") == ["yard"]
    assert await core.store.invitations("carol") == []
    entries = await core.store.list_audit("den", limit=10)
    assert [(e.actor, e.action, e.target) for e in entries if e.action == "invite"] == [
        ("owner", "invite", "carol")
    ]
    with pytest.raises(Conflict, match="carol is already a member of #den"):
        await core.moderation.invite("owner", "den", "carol")  # ordinary now
    with pytest.raises(Conflict, match="carol is already a member of #yard"):
        await core.moderation.invite("owner", "yard", "carol")
    assert await core.store.rooms_joined_by_right("carol") == ["yard"]
