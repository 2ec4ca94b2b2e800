"""A ban (or, for a session about to listen, a kick) that lands while a join is under way:
the join read the user's standing before it, so it must ask again, or it would add back (or
keep listening to) what the ban or kick just took away. The interleaving is forced, not waited for: the real SQLite store's
next write (or the session's subscription) first lets the owner act."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.core.conftest import Core
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
    with pytest.raises(Forbidden, match="no longer a member"):
        await core.membership.join(bob, "hall")
    assert runs == [1]
    await core.messaging.send("owner", "hall", "members only")
    assert "<owner> members only" not in bob.texts()
    assert core.subscriptions.online_count("hall") == 1
    assert owner.closed is None
