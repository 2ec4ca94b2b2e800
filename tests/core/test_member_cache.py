"""The per-node memory of memberships (core/membercache.py): a known membership asks the
store nothing, and every way a membership ends is felt by the next request at once — a kick,
a ban, a leave, a deleted account. Store work is counted through SQLAlchemy's events on the
real SQLite engine."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.core.conftest import Core
from tests.helpers.held_calls import HeldCall
from tests.helpers.statements import Statements
from torbit.core.events import Expelled, MembershipEnded, SessionsRevoked
from torbit.core.membercache import MemberCache
from torbit.core.models import Room
from torbit.errors import Forbidden


async def test_a_known_membership_asks_the_store_nothing(core: Core) -> None:
    await core.user("alice")
    await core.login("alice")
    with Statements(core.store.engine) as cold:
        await core.messaging.send("alice", "lobby", "first")  # learns the membership
    assert len(cold) >= 2  # the room and the user's memberships
    with Statements(core.store.engine) as warm:
        room = await core.membership.member_room("alice", "Lobby")
        await core.messaging.send("alice", "lobby", "second")
    assert room.key == "lobby"
    assert warm.seen == []  # (the commit itself is aiosqlite executemany, below the engine)


@pytest.mark.parametrize("verb", ["kick", "ban"])
async def test_a_kicked_or_banned_member_is_refused_at_once(core: Core, verb: str) -> None:
    await core.user("owner")
    await core.user("bob")
    await core.moderation.create("owner", "hall")
    await core.membership.become_member("bob", "hall")
    await core.messaging.send("bob", "hall", "hi")  # known now
    assert core.membership.known.room("bob", "hall") is not None
    await getattr(core.moderation, verb)("owner", "hall", "bob")
    assert core.membership.known.room("bob", "hall") is None
    with pytest.raises(Forbidden):
        await core.messaging.send("bob", "hall", "still here?")
    with pytest.raises(Forbidden):
        await core.messaging.receive("bob", "hall")


async def test_a_leave_is_felt_at_once(core: Core) -> None:
    await core.user("bob")
    await core.membership.become_member("bob", "hall")
    await core.messaging.send("bob", "hall", "hi")
    await core.membership.leave("bob", "hall")
    with pytest.raises(Forbidden, match="not a member"):
        await core.messaging.send("bob", "hall", "gone")


async def test_an_event_from_another_node_ends_what_is_known(core: Core) -> None:
    """What another node's kick or account deletion does here when its event arrives."""
    await core.user("bob")
    await core.membership.become_member("bob", "hall")
    await core.messaging.send("bob", "hall", "hi")
    await core.membership.become_member("bob", "den")
    await core.messaging.send("bob", "den", "hi")
    await core.store.expel("hall", "bob")  # the other node's store write, then its event
    core.events.apply(Expelled("hall", "hall", "bob", "bob", "owner", "kicked"))
    with pytest.raises(Forbidden):
        await core.messaging.send("bob", "hall", "after")
    assert core.membership.known.room("bob", "den") is not None
    core.events.apply(SessionsRevoked("bob", "your account was deleted", deleted=True))
    assert core.membership.known.room("bob", "den") is None


async def test_an_answer_read_before_an_end_is_not_kept(core: Core) -> None:
    """A lookup that read "member" from the store while a kick was applied must not
    remember that answer (the generation)."""
    await core.user("bob")
    room = await core.membership.become_member("bob", "hall")
    known = core.membership.known
    generation = known.generation  # a lookup starts, asks the store...
    known.forget("bob", "hall")  # ... and meanwhile the kick's event is applied
    known.remember("bob", room, generation)
    assert known.room("bob", "hall") is None
    known.remember("bob", room, known.generation)
    assert known.room("bob", "hall") == room


async def test_memory_is_bounded(core: Core) -> None:
    known = MemberCache(core.events, max_entries=3)
    for i in range(5):
        known.remember(f"u{i}", Room(name="hall", created_at=datetime.now(UTC)), known.generation)
    assert len(known) == 3
    assert known.room("u0", "hall") is None and known.room("u4", "hall") is not None


async def test_a_deleted_guest_is_forgotten_in_every_room(core: Core) -> None:
    """A guest's account goes with its connection (core/guests.py); a next guest of the same
    name must not inherit what this node knew."""
    await core.user("bob")
    for room in ("hall", "den"):
        await core.membership.become_member("bob", room)
        await core.messaging.send("bob", room, "hi")
    await core.membership.known.ended("bob")
    assert core.membership.known.room("bob", "hall") is None
    assert core.membership.known.room("bob", "den") is None


async def _settled(core: Core) -> None:
    for _ in range(20):  # the event's handler reads the store in a task of its own
        await asyncio.sleep(0)
    await asyncio.gather(*core.membership._tasks)


async def test_a_leave_on_another_node_stops_the_sessions_here(core: Core) -> None:
    """Without it a user who left on one node kept hearing, and talking in, the room through
    the sessions on the others until they ended."""
    await core.user("bob")
    await core.user("carol")
    bob = await core.login("bob", "hall")
    carol = await core.login("carol", "hall")
    await core.store.remove_member("hall", "bob")  # the other node's leave, then its event
    core.events.apply(MembershipEnded("hall", "bob", "another-node"))
    await _settled(core)
    assert "* you left #hall (on another connection)" in bob.lines
    assert not core.subscriptions.is_listening(bob, "hall")
    await core.messaging.send("carol", "hall", "after")
    assert "<carol> after" in carol.lines and "<carol> after" not in bob.lines
    with pytest.raises(Forbidden, match="not a member"):
        await core.messaging.send("bob", "hall", "still here?")


async def test_a_late_leave_event_does_not_undo_a_new_join(core: Core) -> None:
    await core.user("bob")
    bob = await core.login("bob", "hall")  # left on another node, and joined again since
    core.events.apply(MembershipEnded("hall", "bob", "another-node"))
    await _settled(core)
    assert core.subscriptions.is_listening(bob, "hall")
    assert not any("you left" in line for line in bob.lines)


async def test_the_leaving_node_does_not_stop_its_sessions_twice(core: Core) -> None:
    await core.user("bob")
    bob = await core.login("bob", "hall")
    other = await core.login("bob", "hall")  # his other connection: told once, here
    await core.membership.leave("bob", "hall", by=bob)
    await _settled(core)
    assert not core.subscriptions.is_listening(bob, "hall")
    assert not any("on another connection" in line for line in bob.lines)
    assert [line for line in other.lines if "on another connection" in line] == [
        "* you left #hall (on another connection)"
    ]


async def test_a_leave_from_another_node_still_being_applied_is_cancelled_at_shutdown(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node stops while such a leave waits on the store: `close()` ends it before the
    store is closed, instead of leaving it to fail (or be destroyed pending) afterwards."""
    await core.user("bob")
    await core.login("bob", "hall")
    held = HeldCall(monkeypatch, core.store, "standing")  # never let go: it never answers
    core.events.apply(MembershipEnded("hall", "bob", "another-node"))
    await held.until_reached()
    tasks = list(core.membership._tasks)
    assert len(tasks) == 1 and not tasks[0].done()
    await core.membership.close()
    assert tasks[0].cancelled() and not core.membership._tasks


@pytest.mark.parametrize("verb", ["kick", "ignore"])
async def test_a_kick_or_ignore_applied_while_the_log_is_read_holds_for_that_page(
    core: Core, verb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Membership and ignores were checked before the log was read, not after: on a busy
    node a kick applied during a Kafka read let the page through, with a message posted
    after the other node had answered the owner (stop 49's probe). The kick (or ignore)
    lands here between the checks and the read."""
    await core.user("owner")
    await core.user("bob")
    await core.moderation.create("owner", "hall")
    await core.membership.become_member("bob", "hall")
    await core.messaging.receive("bob", "hall")  # known, cursor at the end
    await core.messaging.send("owner", "hall", "after you were out")
    read_on = core.messaging._read_on

    async def kicked_meanwhile(*args: Any) -> Any:
        if verb == "kick":
            await core.moderation.kick("owner", "hall", "bob")
        else:
            await core.ignores.ignore("bob", "owner")
        return await read_on(*args)

    monkeypatch.setattr(core.messaging, "_read_on", kicked_meanwhile)
    cursor = await core.store.get_cursor("bob", "hall")
    if verb == "kick":
        with pytest.raises(Forbidden):
            await core.messaging.receive("bob", "hall")
        assert await core.store.get_cursor("bob", "hall") == cursor  # nothing taken as read
    else:
        assert await core.messaging.receive("bob", "hall") == []
