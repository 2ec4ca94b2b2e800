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
from torbit.errors import Forbidden, NotFound


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
