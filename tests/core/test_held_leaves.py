"""Leave notices held for the presence grace (core/leaves.py): one queue and one timer, not a
timer per leave; told in order once due, a slice a loop turn; a return within the grace
cancels the leave (counted in objects and loop turns, never timed)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections import Counter
from collections.abc import Container

import pytest

from tests.core.conftest import Core
from tests.helpers.turns import Turns
from torbit.core import leaves
from torbit.core.delivery import Notice, NoticeKind
from torbit.core.leaves import PendingLeaves
from torbit.core.sessions import Sessions


def _timer_handles() -> int:
    return sum(type(o).__name__ == "TimerHandle" for o in gc.get_objects())


async def test_leaves_held_for_the_grace_keep_no_timer_each(core: Core) -> None:
    """A crowd disconnecting at once: 300 leaves held, at most one timer more (before: one
    each, ~14 objects a leave for the cyclic collector to walk after the storm)."""
    sessions = Sessions(core.store, core.subscriptions, presence_notices_max=100, grace=30)
    before = _timer_handles()
    for i in range(300):
        notice = Notice(f"u{i} left #lobby", NoticeKind.QUIT, room="lobby", user=f"u{i}")
        sessions._gone_later("lobby", notice, f"u{i}")
    assert _timer_handles() - before <= 1
    sessions.shutdown_notice("bye")  # the held leaves go with it


async def test_due_leaves_are_told_in_order_a_slice_a_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leaves, "TOLD_PER_TURN", 5)
    loop = asyncio.get_running_loop()
    told: list[tuple[str, int]] = []
    held = PendingLeaves(0.0, lambda room, notice, user, late: told.append((user, turns.count)))
    for i in range(40):
        held.hold("lobby", f"u{i}", Notice(f"u{i} left", NoticeKind.QUIT, room="lobby"))
    assert held.drop("lobby", "u3")  # back within the grace: never told
    assert not held.drop("lobby", "u3")
    held.hold("lobby", "u7", Notice("u7 left again", NoticeKind.QUIT, room="lobby"))
    assert len(held) == 39
    turns = Turns()
    deadline = loop.time() + 30  # generous: the machine may be busy; nothing here is timed
    while len(told) < 39 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    turns.stop()
    order = [user for user, _ in told]
    assert order == [f"u{i}" for i in range(40) if i not in (3, 7)] + ["u7"]
    assert max(Counter(t for _, t in told).values()) <= 5
    assert len(held) == 0
    await asyncio.sleep(0.05)
    assert len(told) == 39  # nothing told twice


async def test_a_leave_is_not_told_to_sessions_that_entered_after_it() -> None:
    """`late`: who entered the room after the leave was held (re-entering counts as a new
    entry); kept only while the room has leaves held, and only for such rooms."""
    told: list[tuple[str, bool, bool]] = []
    early, newcomer, elsewhere = object(), object(), object()  # sessions, as the hub sees them

    def tell(room: str, notice: Notice, user: str, late: Container[object]) -> None:
        told.append((user, early in late, newcomer in late))

    held = PendingLeaves(0.0, tell)
    held.entered(early, "lobby")  # type: ignore[arg-type]  # nothing held: not kept
    held.entered(elsewhere, "dev")  # type: ignore[arg-type]
    assert held._entries == {}
    held.hold("lobby", "u1", Notice("u1 left", NoticeKind.QUIT, room="lobby"))
    held.entered(newcomer, "lobby")  # type: ignore[arg-type]  # after u1's leave
    held.entered(elsewhere, "dev")  # type: ignore[arg-type]  # no leave held there
    held.hold("lobby", "u2", Notice("u2 left", NoticeKind.QUIT, room="lobby"))
    held.entered(early, "lobby")  # type: ignore[arg-type]  # left and came back: after both
    assert set(held._entries) == {"lobby"}
    async with asyncio.timeout(30):  # generous: the machine may be busy; nothing is timed
        while len(told) < 2:
            await asyncio.sleep(0.01)
    assert told == [("u1", True, True), ("u2", True, False)]
    assert held._entries == {} and held._rooms == {}  # gone with the room's last held leave


class _Session:
    """Stands for a door's session: only its identity matters to the held leaves."""


async def test_a_room_always_with_a_leave_held_keeps_no_old_entries() -> None:
    """A busy room always has some leave held, so its entries (the sessions that entered it
    while one was) were never dropped: every session that ever entered stayed, closed ones
    too (stop 47's soak: 70 telnet logins a minute kept). Counted in sessions kept alive."""
    told: list[str] = []
    held = PendingLeaves(3600.0, lambda room, notice, user, late: told.append(user))
    alive = []
    for i in range(2000):  # a churn: u(i) leaves, s(i) enters, u(i-1) is back and drops its
        held.hold("lobby", f"u{i}", Notice(f"u{i} left", NoticeKind.QUIT, room="lobby"))
        session = _Session()
        held.entered(session, "lobby")  # type: ignore[arg-type]
        alive.append(weakref.ref(session))
        del session
        if i:
            assert held.drop("lobby", f"u{i - 1}")
    gc.collect()
    kept = sum(ref() is not None for ref in alive)
    assert kept <= 200, kept  # before: 2000 (ENTRIES_KEPT is 64: at most twice that)
    assert len(held) == 1
    held.clear()
