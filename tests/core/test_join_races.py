"""A ban (or, for a session about to listen, a kick) that lands while a join is under way:
the join read the user's standing before it, so it must ask again, or it would add back (or
keep listening to) what the ban or kick just took away. The interleaving is forced, not waited for: the real SQLite store's
next write (or the session's subscription) first lets the owner act."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.core.conftest import Core
from torbit.core.models import GUEST_PASSWORD_HASH, Room, User
from torbit.core.roomsettings import SettingsChange
from torbit.errors import Conflict, Forbidden, NotFound, RoomFull


def before_next(target: Any, method: str, act: Callable[[], Awaitable[object]]) -> list[int]:
    """Run `act` once, just before the next call of `target.method`; the count of runs."""
    original = getattr(target, method)
    runs: list[int] = []

    async def racing(*args: Any, **kwargs: Any) -> Any:
        if not runs:
            runs.append(1)
            await act()
        return await original(*args, **kwargs)

    setattr(target, method, racing)
    return runs


async def members(core: Core, room: str) -> list[str]:
    return await core.store.list_members(room)


@pytest.mark.parametrize("private", [False, True])
async def test_a_ban_during_a_join_is_not_undone_by_it(core: Core, private: bool) -> None:
    await core.user("owner")
    await core.user("bob")
    await core.moderation.create("owner", "hall", private=private)
    if private:
        await core.moderation.invite("owner", "hall", "bob")
    runs = before_next(
        core.store, "add_member", lambda: core.moderation.ban("owner", "hall", "bob")
    )
    refused = NotFound if private else Forbidden  # a banned invitee's invitation is gone
    with pytest.raises(refused):
        await core.membership.become_member("bob", "hall")
    assert runs == [1]
    assert await members(core, "hall") == ["owner"]
    assert (await core.store.standing("hall", "bob")).banned
    with pytest.raises(refused):
        await core.messaging.send("bob", "hall", "still here?")
    with pytest.raises(refused):
        await core.membership.become_member("bob", "hall")


async def test_parallel_joins_of_one_invitee_all_get_in(core: Core) -> None:
    """Asking again must not take back a membership another of the user's joins made."""
    import asyncio

    await core.user("owner")
    await core.user("bob")
    await core.moderation.create("owner", "den", private=True)
    await core.moderation.invite("owner", "den", "bob")
    rooms = await asyncio.gather(*(core.membership.become_member("bob", "den") for _ in range(5)))
    assert {r.key for r in rooms} == {"den"}
    assert await members(core, "den") == ["bob", "owner"]


@pytest.mark.parametrize("verb", ["kick", "ban"])
async def test_a_session_removed_before_it_listens_does_not_listen(core: Core, verb: str) -> None:
    await core.user("owner")
    await core.user("bob")
    await core.moderation.create("owner", "hall")
    owner = await core.login("owner", room="hall")
    bob = await core.login("bob", room=None)
    await core.membership.become_member("bob", "hall")  # a member: the join only listens
    act = getattr(core.moderation, verb)
    runs = before_next(core.subscriptions, "listen", lambda: act("owner", "hall", "bob"))
    refusal = "banned" if verb == "ban" else "no longer a member"
    with pytest.raises(Forbidden, match=refusal):
        await core.membership.join(bob, "hall")
    assert runs == [1]
    await core.messaging.send("owner", "hall", "members only")
    assert "<owner> members only" not in bob.texts()
    assert core.subscriptions.online_count("hall") == 1
    assert owner.closed is None


async def test_a_join_just_before_a_vacant_room_is_deleted_keeps_it(core: Core) -> None:
    """A guest's room (no owner) goes when its last member does, unless someone joined it
    between the check for members and the deletion: then it stays, with them in it."""
    await core.store.create_user(User("guest1", GUEST_PASSWORD_HASH, datetime.now(UTC)))
    await core.user("bob")
    room = await core.membership.become_member("guest1", "den")
    assert room.owner is None
    await core.store.remove_member("den", "guest1")
    joined: list[Room] = []

    async def join() -> None:
        if not joined:
            joined.append(await core.membership.become_member("bob", "den"))

    for deletion in ("delete_room", "delete_room_if_empty"):  # whichever it asks for
        before_next(core.store, deletion, join)
    assert not await core.membership.delete_if_vacant("den")
    assert len(joined) == 1
    assert await core.store.get_room("den") is not None
    assert await members(core, "den") == ["bob"]


@pytest.mark.parametrize("verb", ["kick", "ban"])
async def test_an_op_overtaken_by_a_kick_or_ban_leaves_no_admin_right(
    core: Core, verb: str
) -> None:
    """Two admins at once: one makes bob an admin, the other kicks (or bans) him. The
    kick takes his admin rights, so the op may not give them back to a non-member, who
    would be an admin again on his next join."""
    await core.user("owner")
    await core.user("carol")
    await core.user("bob")
    await core.moderation.create("owner", "hall")
    for name in ("carol", "bob"):
        await core.membership.become_member(name, "hall")
    await core.moderation.op("owner", "hall", "carol")
    act = getattr(core.moderation, verb)
    before_next(core.store, "set_room_admin", lambda: act("carol", "hall", "bob"))
    with pytest.raises(NotFound, match="not a member"):
        await core.moderation.op("owner", "hall", "bob")
    assert await core.store.list_room_admins("hall") == ["carol"]
    if verb == "ban":
        await core.moderation.unban("owner", "hall", "bob")
    await core.membership.become_member("bob", "hall")
    assert not (await core.store.standing("hall", "bob")).admin


async def test_an_invitation_overtaken_by_a_ban_is_not_kept(core: Core) -> None:
    """A ban takes the user's invitation; an invitation made at the same moment may not
    outlive it: the banned user would see the private room, and after an unban join it
    without being invited again."""
    await core.user("owner")
    await core.user("carol")
    await core.user("bob")
    await core.moderation.create("owner", "den", private=True)
    await core.moderation.invite("owner", "den", "carol")
    await core.membership.become_member("carol", "den")
    await core.moderation.op("owner", "den", "carol")
    before_next(core.store, "add_invite", lambda: core.moderation.ban("owner", "den", "bob"))
    with pytest.raises(Conflict, match="banned"):
        await core.moderation.invite("carol", "den", "bob")
    assert not (await core.store.standing("den", "bob")).invited
    await core.moderation.unban("owner", "den", "bob")
    with pytest.raises(NotFound):
        await core.membership.become_member("bob", "den")


async def test_a_join_overtaken_by_another_nodes_join_of_the_last_place_is_refused(
    core: Core,
) -> None:
    """The room lock holds on this node only: another node's join (a member added straight
    to the shared store) lands between this join's count and its add."""
    for name in ("owner", "bob", "carol", "zed"):
        await core.user(name)
    await core.moderation.create("owner", "hall")
    await core.moderation.configure("owner", "hall", SettingsChange(member_limit=3))
    await core.membership.become_member("bob", "hall")
    runs = before_next(core.store, "add_member", lambda: core.store.add_member("hall", "zed"))
    with pytest.raises(RoomFull):
        await core.membership.become_member("carol", "hall")
    assert runs == [1]
    assert sorted(await members(core, "hall")) == ["bob", "owner", "zed"]
    assert not await core.membership.is_member("carol", "hall")
    await core.membership.leave("bob", "hall")
    await core.membership.become_member("carol", "hall")  # a place again: the retry gets it
    assert sorted(await members(core, "hall")) == ["carol", "owner", "zed"]
