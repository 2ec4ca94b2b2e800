"""A receive pays for every message it read from the log, from the user's read budget
(`limits.read_rate`): the messages of ignored senders it passed over, and a page read again
after its cursor move lost to another receive (another node's, or a woken poll). On main
only what it returned was paid: a receive that lost the race, or passed over an ignored
sender's backlog, read for free. Real SQLite store and log; two Messaging services on one
store are two nodes."""

from __future__ import annotations

from typing import Any

from tests.core.conftest import Core
from torbit.core.limits import RateLimiter, ReadBudget
from torbit.core.messaging import Messaging

BURST = 1000


def node(core: Core, store: Any = None) -> tuple[Messaging, RateLimiter]:
    limiter = RateLimiter(1e-6, BURST)  # refills nothing during the test
    messaging = Messaging(
        store or core.store,
        core.log,
        core.membership,
        core.ignores,
        core.mutes,
        reads=ReadBudget(limiter),
    )
    return messaging, limiter


def spent(limiter: RateLimiter, key: str = "alice") -> int:
    left = limiter.take(key, BURST)
    limiter.give_back(key, left)
    return BURST - left


class LosesFirstMove:
    """The store, except that the first cursor move of node A finds node B's receive moved
    the cursor first: the interleaving of two nodes' receives, made deterministic."""

    def __init__(self, core: Core, other: Messaging) -> None:
        self._store = core.store
        self._other = other
        self.raced = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def advance_cursor(self, user: str, room: str, at: int | None, to: int) -> bool:
        if not self.raced:
            self.raced = len(await self._other.receive("alice", "hall"))
        return bool(await self._store.advance_cursor(user, room, at, to))


async def setup(core: Core) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
        await core.membership.become_member(name, "hall")


async def test_a_receive_that_lost_the_race_pays_for_its_read(core: Core) -> None:
    await setup(core)
    for i in range(10):
        await core.messaging.send("bob", "hall", f"m{i}")
    other, other_limiter = node(core)
    store = LosesFirstMove(core, other)
    first, limiter = node(core, store)
    assert await first.receive("alice", "hall") == []  # node B took the page first
    assert store.raced == 10  # the interleaving happened
    assert spent(other_limiter) == 10
    assert spent(limiter) == 10  # main: 0, the page read and lost was free


async def test_a_receive_pays_for_the_ignored_messages_it_passed(core: Core) -> None:
    await setup(core)
    await core.ignores.ignore("alice", "carol")
    for i in range(30):
        await core.messaging.send("carol", "hall", f"spam{i}")
    await core.messaging.send("bob", "hall", "hello")
    messaging, limiter = node(core)
    assert [m.text for m in await messaging.receive("alice", "hall")] == ["hello"]
    assert spent(limiter) == 31  # main: 1
    assert await messaging.receive("alice", "hall") == []
