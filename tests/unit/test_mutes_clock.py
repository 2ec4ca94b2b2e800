"""A node's copy of the mutes ends them by the store's clock (attack57's noticed item: by the
muting node's clock, a node 30 s behind set mutes that ended 30 s early everywhere), told
between two reads of it by the monotonic clock since the last (clock58: by the node's wall
clock and the offset last measured, a clock stepped forward took a running mute for ended
and dropped it for good)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from torbit.core.models import Room
from torbit.core.mutes import Mutes, set_at
from torbit.core.storeclock import StoreClock
from torbit.errors import Forbidden

STORE = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # the store's clock
S = timedelta(seconds=1)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


@pytest.mark.parametrize("skew", [-30 * S, 30 * S], ids=["behind", "ahead"])
def test_a_node_whose_clock_is_off_ends_a_mute_by_the_store_s_clock(skew: timedelta) -> None:
    ticks = Ticks()
    mutes = Mutes(StoreClock(ticks, lambda: STORE + skew))  # this node's clock is off
    mutes.clock.observe(STORE, ticks.at)
    assert mutes.clock.now() == STORE
    # muted on another node for 1 minute at the store's STORE, its event applied here
    until = STORE + 60 * S
    mutes.set("hall", "bob", until, set_at(until, 1))
    room = Room("hall", created_at=STORE - 5 * S)  # made 5 s before, by the store's time
    ticks.at += 45
    with pytest.raises(Forbidden, match="for 1 more minute"):
        mutes.check(room, "bob")
    ticks.at += 15
    mutes.check(room, "bob")  # ended, whatever this node's clock says
    mutes.clock.observe(STORE + 60 * S, ticks.at)
    assert len(mutes) == 0


@pytest.mark.parametrize("skew", [-30 * S, 30 * S], ids=["behind", "ahead"])
def test_a_mute_set_here_just_after_its_room_was_made_here_stands(skew: timedelta) -> None:
    """The room's time and the mute's are both the store's (rowclock60: the room was dated
    by this node's wall clock, compared through the offset the last read measured; that
    offset added to a room dated by the store's time took, on a node 30 s behind, every
    mute of the room's first 30 s for an earlier room's)."""
    mutes = Mutes(StoreClock(Ticks(), lambda: STORE + skew))
    mutes.clock.observe(STORE, 1000.0)
    room = Room("hall", created_at=mutes.clock.now())  # as Membership dates it
    mutes.set("hall", "bob", STORE + 60 * S + S / 1000, STORE + S / 1000)
    assert mutes.until("hall", "bob", STORE, room.created_at) == STORE + 60 * S + S / 1000


def test_the_wall_clock_stepping_forward_between_two_reads_ends_no_mute() -> None:
    """A VM resumed or NTP stepped the wall clock 2 minutes forward, 1 minute of bob's mute
    left: the store's time is its last read plus the monotonic time since, which did not
    step. The wall clock is never asked between reads."""
    ticks = Ticks()
    wall = [STORE]
    mutes = Mutes(StoreClock(ticks, lambda: wall[0]))
    mutes.clock.observe(STORE, ticks.at)
    mutes.set("hall", "bob", STORE + 60 * S, STORE)
    ticks.at += 3  # 3 s later by the monotonic clock, 2 min + 3 s by the wall clock
    wall[0] += 123 * S
    assert mutes.clock.now() == STORE + 3 * S
    with pytest.raises(Forbidden, match="for 1 more minute"):
        mutes.check(Room("hall", created_at=STORE - 5 * S), "bob")
    mutes.clock.observe(STORE + 4 * S, ticks.at + 1)  # the next read: the wall clock unread
    assert mutes.until("hall", "bob") == STORE + 60 * S


def test_no_judgment_between_reads_drops_a_mute_for_good() -> None:
    """A check at a time past a mute's end, or one that takes it for an earlier room's,
    answers for that check: the mute stays in the copy until the store's clock read says
    it ended, or its event lifts it."""
    mutes = Mutes(StoreClock(Ticks()))
    mutes.clock.observe(STORE, 1000.0)
    mutes.set("hall", "bob", STORE + 60 * S, STORE)
    assert mutes.until("hall", "bob", STORE + 61 * S) is None  # a time told wrong
    assert mutes.until("hall", "bob", made=STORE + 2 * S) is None  # a later room's #hall
    assert mutes.until("hall", "bob") == STORE + 60 * S  # still held, here and now
    assert len(mutes) == 1
    mutes.clock.observe(STORE + 59 * S, 1059.0)
    assert len(mutes) == 1
    mutes.clock.observe(STORE + 60 * S, 1060.0)
    assert len(mutes) == 0
    mutes.set("hall", "bob", STORE + 120 * S, STORE + 60 * S)
    mutes.set("hall", "bob", None)  # an unmute's event
    assert len(mutes) == 0
