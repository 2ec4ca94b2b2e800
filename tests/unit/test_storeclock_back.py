"""The store's time as a node tells it never goes back (attack61) nor stands still
(attack62), and what it told before its first read of the store's clock (the node's wall
clock) holds nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from torbit.core.storeclock import StoreClock

STORE = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)
US = timedelta(microseconds=1)


def test_a_store_clock_read_behind_the_time_told_holds_it_until_it_catches_up() -> None:
    ticks = [1000.0]
    clock = StoreClock(lambda: ticks[0])
    clock.observe(STORE, ticks[0])
    ticks[0] += 10
    assert clock.now() == STORE + 10 * S
    clock.observe(STORE - 110 * S, ticks[0])  # stepped 2 minutes back
    assert clock.now() == STORE + 10 * S + US
    ticks[0] += 100
    assert clock.now() == STORE + 10 * S + 2 * US  # held: the store's reads STORE - 10 s
    ticks[0] += 30
    assert clock.now() == STORE + 20 * S  # caught up, told by the store's again


def test_no_two_times_told_are_alike_in_a_hold_or_out_of_it() -> None:
    """attack62: held at one instant, a room's message, its deletion and a room made again
    under its name bore one time, and the deletion (`sent_at < at`) and the new room's
    floor (`sent_at >= created_at`) let the old room's lines through. Each time told is a
    microsecond past the last: held, after a step forward and back, and between two
    readings of a monotonic clock that did not move."""
    ticks = [1000.0]
    clock = StoreClock(lambda: ticks[0])
    clock.observe(STORE + 120 * S, ticks[0])  # stepped 2 minutes forward
    clock.observe(STORE, ticks[0])  # and back
    told = [clock.now() for _ in range(1000)]
    assert told == [STORE + 120 * S + i * US for i in range(1000)]
    ticks[0] += 121
    assert clock.now() == STORE + 121 * S  # caught up
    assert clock.now() == STORE + 121 * S + US  # the monotonic clock did not move


def test_the_wall_clock_told_before_the_first_read_holds_nothing() -> None:
    clock = StoreClock(lambda: 1000.0, wall=lambda: STORE + timedelta(days=1))
    assert clock.now() == STORE + timedelta(days=1)  # no read yet: this node's wall clock
    clock.observe(STORE, 1000.0)
    assert clock.now() == STORE
