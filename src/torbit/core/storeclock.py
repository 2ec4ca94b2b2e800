"""The store's time as this node tells it: what mutes end by, bearer tokens are dated and
expire by, and housekeeping purges by (storeclock59); what reads hide expired messages by,
guests and leases are dated and swept by, a renamed guest's carried acts are heard by, and
where a login comes back to is dated by (floor59).

Several nodes share one store, each with its own wall clock: one running 30 s behind, or
stepped a day forward (a VM resumed, NTP), must not judge for every node what ended. The
store's clock (`Store.clock`) is the one they share, but a send's mute check or a token's
check cannot ask the store each time. So a node reads it now and then (`read_clock`: its
feed marks, every few seconds, and every act on mutes) and tells the store's time between
reads as the store's clock at the last read plus the time elapsed since on this process's
monotonic clock (`now`), which does not step with the wall clock (clock58, clock59). Over
a suspend the monotonic clock stands still: the store's time is then told late, until the
next read. Before any read it is this node's wall clock (`wall`).

Rows are dated by it too (rowclock60): a message's `sent_at`, a room's and an account's
creation, audit entries, bans, topics, feed rows and node events, so that every node's
rows and every cutoff (purges, reads' floors, a room's creation against a mute's start)
share one clock. The wall clock is only read before the first read of the store's. What
follows a read (the mutes it ended leave a node's copy) is told to the callbacks given to
`on_read`.

What it tells never goes back (attack61): a read finding the store's clock behind the time
told already (SQLite's clock is the machine's, which NTP may step back; PostgreSQL's read
error, half a round trip) holds the told time where it stood until the store's catches up.
Told by the stepped clock, a message sent after the read was dated before its room's
creation, and no read showed it; a mute set then was taken for an earlier room's. Over a
step back of S, what ends by the store's time (mutes, tokens) set then lasts up to S longer.

Nor does it stand still: each time told is a microsecond past the last (attack62). Held at
one instant, a message of a room, the room's deletion and a room made again under its name
bore the same time, and a room's ends go by time, not ids: the deletion drops what was sent
before it (`sent_at < at`), a read shows what was sent at or after the room's creation
(`Membership.floor`), a mute set before the room was made is an earlier room's. The deleted
private room's lines stayed and were shown to whoever made one of its name. A hold lasts a
microsecond a reading longer (a second more for a million readings in it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from torbit.core.ports import Store

TICK = timedelta(microseconds=1)  # the least step of a time told (the stores keep µs)


class StoreClock:
    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.monotonic = monotonic  # read_clock reads it around the store's clock
        self.wall = wall  # this node's wall clock: the store's time before any read
        # the store's clock at the last read, and this process's monotonic clock then (None:
        # never read; the store's time is told by this node's wall clock)
        self._read: tuple[datetime, float] | None = None
        self._on_read: list[Callable[[datetime], None]] = []
        self._told: datetime | None = None  # the latest time told or read since the first read
        self._last: datetime | None = None  # the latest time `now` told

    def on_read(self, callback: Callable[[datetime], None]) -> None:
        """Call `callback` with the store's clock at each read of it (after `observe`)."""
        self._on_read.append(callback)

    def observe(self, store_at: datetime, monotonic_at: float) -> None:
        """The store's clock read `store_at` when this node's monotonic clock read
        `monotonic_at`."""
        self._read = (store_at, monotonic_at)
        if self._told is None or self._told < store_at:
            self._told = store_at
        for callback in self._on_read:
            callback(self._told)  # not before a time told (its mutes ended by then)

    def now(self) -> datetime:
        """The store's time now: at the last read of its clock plus the monotonic time
        elapsed since (this node's wall clock before any read); never before a time it told
        or read since the first read (a store's clock stepped back: held until it catches
        up), and a microsecond past the last it told (no two rows dated alike here)."""
        if self._read is None:  # not kept: a wall clock a day ahead would hold it a day
            return self.wall()
        store_at, monotonic_at = self._read
        told = store_at + timedelta(seconds=self.monotonic() - monotonic_at)
        held = self._told
        if held is not None and told < held:
            told = held
        last = self._last
        if last is not None and told <= last:
            told = last + TICK
        self._told = self._last = told
        return told


async def read_clock(store: Store, clock: StoreClock) -> datetime:
    """The store's time (`Store.clock`) as `clock` tells it once told the read, with the
    monotonic clock as it read around it (the middle): not before a time it told already."""
    ticked = clock.monotonic()
    at = await store.clock()
    clock.observe(at, (ticked + clock.monotonic()) / 2)
    return clock.now()
