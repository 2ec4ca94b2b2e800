"""The store's feed of revocations, written by processes that are not nodes (`torbit user
passwd`, `user del`, `room del`): a serial is taken before its row is written, so with two
such processes at once a node can read the later serial's row first. Polling went on from
the highest serial read and never read the other: a password changed by the CLI left the
user's sessions open on that node (1 of 400 revocations missed, 20 writers at once on
Cassandra). The rows are written here with their serials in the order two processes would
land them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.core.conftest import Core
from torbit.backends.store.schema import revocations
from torbit.core import revocation
from torbit.core.feedmarks import LOOKED_FOR_S, StoreFeed, describe
from torbit.core.models import Revocation
from torbit.core.revocation import PAGE, Revocations


async def land(core: Core, serial: int, user: str, credential: str) -> None:
    """A row of the feed, with the serial its writer took earlier."""
    async with core.store.engine.begin() as conn:
        await conn.execute(
            revocations.insert().values(
                serial=serial,
                at=datetime.now(UTC),
                user_key=user,
                reason="your password was changed",
                credential=credential,
                token="",
                deleted=False,
            )
        )


async def credential(core: Core, name: str) -> str:
    user = await core.store.get_user(name)
    assert user is not None
    return user.credential


async def passed_over(core: Core, gaps: int = 1) -> tuple[Revocations, int]:
    """A node's feed (`gap_wait` 0) that has applied bob's row at serial `first` + `gaps` + 1
    and come to the serials from `first` + 1 to `first` + `gaps`, their rows not written
    (passed over, up to `revocation.LATE_CAP`); the feed and `first`."""
    await core.user("bob")
    feed = Revocations(core.store, core.sessions, core.events, core.mutes, gap_wait=0)
    await feed.start()
    first = await core.store.last_revocation()
    await land(core, first + gaps + 1, "bob", await credential(core, "bob"))
    assert await feed.poll() == 1
    assert await feed.poll() == 0
    return feed, first


async def test_a_row_landing_after_a_later_serials_is_applied(core: Core) -> None:
    await core.user("alice")
    await core.user("bob")
    feed = Revocations(core.store, core.sessions, core.events, core.mutes)
    await feed.start()
    first = await core.store.last_revocation()
    alice, bob = await core.login("alice", room=None), await core.login("bob", room=None)

    await land(core, first + 2, "bob", await credential(core, "bob"))
    assert await feed.poll() == 1
    assert bob.closed is not None and alice.closed is None
    await land(core, first + 1, "alice", await credential(core, "alice"))  # the slower one
    assert await feed.poll() == 1
    assert alice.closed == "your password was changed: you are logged out"
    assert await feed.poll() == 0


async def test_a_serial_never_written_is_passed_over(core: Core) -> None:
    """Its writer died (or its insert was rolled back): after `gap_wait` the poll goes on
    from past it; the rows read meanwhile were applied once each."""
    await core.user("carol")
    feed, first = await passed_over(core)
    await land(core, first + 3, "carol", await credential(core, "carol"))
    carol = await core.login("carol", room=None)
    assert await feed.poll() == 1
    assert carol.closed is not None


async def test_more_than_a_page_behind_a_gap_is_read_in_one_poll(core: Core) -> None:
    """A serial not written yet, then more rows than a page: each poll read the same first
    page past the gap, and the rest waited for the gap's `gap_wait` (10 s by default)."""
    await core.user("bob")
    await core.user("carol")
    feed = Revocations(core.store, core.sessions, core.events, core.mutes)
    await feed.start()
    first = await core.store.last_revocation()
    bob = await credential(core, "bob")
    for serial in range(first + 2, first + 2 + PAGE + 20):  # first + 1: still being written
        await land(core, serial, "bob", bob)
    await land(core, first + 2 + PAGE + 20, "carol", await credential(core, "carol"))
    carol = await core.login("carol", room=None)
    assert await feed.poll() == PAGE + 21
    assert carol.closed is not None
    assert await feed.poll() == 0


class Clock:
    """`time.monotonic` for core/revocation.py, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


async def test_a_new_gap_is_waited_for_its_own_time(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gap filled while another opened behind it: the new one was judged by the time the
    first was seen, so in a burst of CLI writers (gaps all the time) every gap past the first
    10 s was passed over at once, its row read never: alice's password changed, her session
    left open on this node (attack56)."""
    clock = Clock()
    monkeypatch.setattr(revocation, "time", clock)
    await core.user("alice")
    await core.user("bob")
    feed = Revocations(core.store, core.sessions, core.events, core.mutes, gap_wait=10)
    await feed.start()
    first = await core.store.last_revocation()
    bob = await credential(core, "bob")
    await land(core, first + 2, "bob", bob)  # first + 1: still being written
    assert await feed.poll() == 1
    clock.now = 5.0  # first + 1 lands; first + 3 is taken by a writer, first + 4 lands
    await land(core, first + 1, "bob", bob)
    await land(core, first + 4, "bob", bob)
    assert await feed.poll() == 2
    clock.now = 10.5  # first + 3's writer has been at it 5.5 s: still waited for
    assert await feed.poll() == 0
    alice = await core.login("alice", room=None)
    await land(core, first + 3, "alice", await credential(core, "alice"))
    assert await feed.poll() == 1
    assert alice.closed == "your password was changed: you are logged out"
    clock.now = 30.0
    assert await feed.poll() == 0


async def test_a_row_landing_after_its_gap_was_passed_over_is_applied(core: Core) -> None:
    """Its writer was slow past `gap_wait` between taking the serial and committing (a CLI
    stopped by ^Z at that moment, a synchronous standby away): the poll had gone on past
    it and never read it, so the password it changed left alice's session open on this node
    for good, and the node's mark said it had applied the row (attack57). A serial passed
    over is still looked for, LATE_S."""
    await core.user("alice")
    feed, first = await passed_over(core)
    alice = await core.login("alice", room=None)
    await land(core, first + 1, "alice", await credential(core, "alice"))  # late, not dead
    assert await feed.poll() == 1
    assert alice.closed == "your password was changed: you are logged out"
    assert await feed.poll() == 0


async def test_the_cli_s_wait_is_not_answered_before_a_late_row_is_applied(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's row was written after its serial was passed over (its writer slow past
    `gap_wait`): the node's mark already stood past it, so `torbit user passwd alice --wait`
    said every node had applied it while alice's session there was open, until the node's
    next poll found the row (up to 0.5 s on; attack57's noticed item). The wait is answered
    once every node has read the feed past a row the CLI writes after its own."""
    await core.user("alice")
    feed, first = await passed_over(core)  # first + 1: taken by the CLI
    await feed.mark()
    alice = await core.login("alice", room=None)

    async def slow_insert(r: Revocation, at: datetime) -> int:
        await land(core, first + 1, r.user, r.credential)  # committed only now
        return first + 1

    cli = StoreFeed(core.store, lambda: datetime.now(UTC))
    monkeypatch.setattr(core.store, "add_revocation", slow_insert)
    await cli.revoke(Revocation("alice", "password changed", await credential(core, "alice")))
    monkeypatch.undo()
    assert alice.closed is None  # the node has not read the row yet
    assert await cli.confirmed(0) != []  # so it is not confirmed

    await feed.poll()
    await feed.mark()
    assert alice.closed is not None
    assert await cli.confirmed(0) == []


async def test_the_cli_s_wait_names_every_node_when_its_row_landed_past_their_look(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's row landed more than GAP_WAIT_S + LATE_S after its serial was taken (a
    COMMIT held by a partition, a CLI stopped by ^Z): the node had stopped looking for the
    serial it passed over, never applied the row (alice's session stayed open), and passed
    the barrier written after it, so `--wait` said every node had applied it (clock59)."""
    await core.user("alice")
    feed, first = await passed_over(core)  # first + 1: taken by the CLI
    monkeypatch.setattr(revocation, "LATE_S", 0.0)  # the node's LATE_S went by
    await feed.poll()
    await feed.mark()
    alice = await core.login("alice", room=None)
    ticks = [1000.0]

    async def slow_insert(r: Revocation, at: datetime) -> int:
        await land(core, first + 1, r.user, r.credential)  # committed only now
        ticks[0] += LOOKED_FOR_S
        return first + 1

    cli = StoreFeed(core.store, lambda: datetime.now(UTC), lambda: ticks[0])
    with monkeypatch.context() as slow:
        slow.setattr(core.store, "add_revocation", slow_insert)
        await cli.revoke(Revocation("alice", "password changed", await credential(core, "alice")))
    await cli.confirmed(0)  # the barrier written
    await feed.poll()
    await feed.mark()
    assert alice.closed is None  # never applied here
    late = await cli.confirmed(0)
    assert [u.given_up for u in late] == [True], late
    assert "may have stopped looking for it" in describe(late, 0)


async def test_past_the_cap_of_serials_passed_over_the_node_waits_rather_than_forgets(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every serial passed over is looked for LATE_S (heal60: the newest 16 only, before); at
    most LATE_CAP of them (3 here). Past it the node passes no more over: it waits at the
    next gap, its mark behind it, reading the rows past it as they come, and passes it over
    once older serials have left the look (or their rows landed)."""
    clock = Clock()
    monkeypatch.setattr(revocation, "time", clock)
    monkeypatch.setattr(revocation, "LATE_CAP", 3)
    for name in ("alice", "carol"):
        await core.user(name)
    feed, first = await passed_over(core, 5)  # 1 to 3 passed over, 4 and 5 waited for
    assert feed.applied() == first + 3
    alice, carol = await core.login("alice", room=None), await core.login("carol", room=None)
    await land(core, first + 5, "alice", await credential(core, "alice"))
    await land(core, first + 2, "carol", await credential(core, "carol"))  # passed over
    assert await feed.poll() == 2
    assert alice.closed is not None and carol.closed is not None
    assert (
        feed.applied() == first + 3
    )  # 2 landed: room for one more, 4 waited for till the next poll
    assert await feed.poll() == 0
    assert feed.applied() == first + 6  # 4 passed over (1, 3 and 4 looked for)
    clock.now = revocation.LATE_S
    dave = first + 7
    await core.user("dave")
    await land(core, dave, "dave", await credential(core, "dave"))
    assert await feed.poll() == 1
    assert feed.applied() == dave


async def test_the_serials_passed_over_are_looked_for_in_one_read(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 serials passed over at once (rolled back inserts, heal60): every one is looked for
    now, not the newest 16, and by one read of the feed a poll, not one read each."""
    feed, first = await passed_over(core, 40)  # 1 to 40 passed over
    reads = []
    real = core.store.revocations_after

    async def counted(serial: int, limit: int = PAGE) -> list[tuple[int, Revocation]]:
        reads.append((serial, limit))
        return await real(serial, limit)

    monkeypatch.setattr(core.store, "revocations_after", counted)
    assert await feed.poll() == 0
    assert reads == [(first + 41, PAGE), (first, 40)]  # the new rows, then the 40 looked for
    await core.user("alice")
    alice = await core.login("alice", room=None)
    await land(core, first + 1, "alice", await credential(core, "alice"))  # the oldest
    assert await feed.poll() == 1
    assert alice.closed is not None
