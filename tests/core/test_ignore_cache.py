"""The ignore lists of users with no session on this node (an HTTP client polling
`GET /receive`): kept in memory so a receive does not read them from the store each time,
and exact all the same — a change, here or on another node, is seen by the next receive.
Store statements counted on the real SQLite engine."""

from __future__ import annotations

from tests.core.conftest import Core
from tests.helpers.statements import Statements
from torbit.core.events import IgnoreChanged, MembershipEnded, SessionsRevoked
from torbit.core.ignores import Ignores


def ignore_reads(statements: Statements) -> int:
    return sum(1 for sql in statements.seen if "ignores" in sql)


async def test_a_list_is_read_once_and_changes_are_seen_at_once(core: Core) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    for name in ("alice", "bob", "carol"):
        await core.membership.become_member(name, "hall")
    await core.ignores.ignore("alice", "bob")
    await core.messaging.send("bob", "hall", "from bob")
    await core.messaging.send("carol", "hall", "from carol")
    with Statements(core.store.engine) as first:
        got = await core.messaging.receive("alice", "hall")
    assert [m.text for m in got] == ["from carol"]
    assert ignore_reads(first) == 1

    await core.messaging.send("bob", "hall", "bob again")
    await core.messaging.send("carol", "hall", "carol again")
    with Statements(core.store.engine) as second:
        got = await core.messaging.receive("alice", "hall")
    assert [m.text for m in got] == ["carol again"]
    assert ignore_reads(second) == 0

    await core.ignores.unignore("alice", "bob")  # seen by the very next receive
    await core.messaging.send("bob", "hall", "bob heard")
    assert [m.text for m in await core.messaging.receive("alice", "hall")] == ["bob heard"]
    await core.ignores.ignore("alice", "carol")
    await core.messaging.send("carol", "hall", "carol silenced")
    await core.messaging.send("bob", "hall", "bob still heard")
    assert [m.text for m in await core.messaging.receive("alice", "hall")] == ["bob still heard"]


async def test_events_from_other_nodes_forget_what_is_kept(core: Core) -> None:
    await core.user("alice")
    await core.user("bob")
    assert await core.ignores.of("alice") == set()
    # another node's change: its store write, then its event
    await core.store.add_ignore("alice", "bob")
    core.events.apply(IgnoreChanged("alice", "bob", True))
    assert await core.ignores.of("alice") == {"bob"}
    # a deleted account or guest: its key may come back as someone else's
    await core.ignores.of("alice")
    await core.store.remove_ignore("alice", "bob")
    core.events.apply(SessionsRevoked("bob", "your account was deleted", deleted=True))
    assert await core.ignores.of("alice") == set()
    await core.store.add_ignore("alice", "bob")
    core.events.apply(MembershipEnded("", "someguest"))
    assert await core.ignores.of("alice") == {"bob"}


async def test_a_list_read_while_a_change_was_applied_is_not_kept(core: Core) -> None:
    await core.user("alice")
    await core.user("bob")
    ignores = core.ignores
    real = core.store.list_ignores

    async def racing_read(user_key: str) -> list[str]:  # the store answers the old list...
        answer = await real(user_key)
        await core.store.add_ignore("alice", "bob")  # ... while the change lands
        core.events.apply(IgnoreChanged("alice", "bob", True))
        return answer

    core.store.list_ignores = racing_read  # type: ignore[method-assign]
    try:
        assert await ignores.of("alice") == set()  # that request saw the old list
    finally:
        core.store.list_ignores = real  # type: ignore[method-assign]
    assert await ignores.of("alice") == {"bob"}  # but it was not kept


async def test_memory_is_bounded(core: Core) -> None:
    ignores = Ignores(core.store, core.subscriptions, core.events, max_cached=2)
    for name in ("a1", "a2", "a3"):
        await core.user(name)
        await ignores.of(name)
    with Statements(core.store.engine) as reads:
        await ignores.of("a3")
        await ignores.of("a1")  # the oldest went
    assert ignore_reads(reads) == 1
