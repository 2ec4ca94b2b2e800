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
`on_read`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from torbit.core.ports import Store


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

    def on_read(self, callback: Callable[[datetime], None]) -> None:
        """Call `callback` with the store's clock at each read of it (after `observe`)."""
        self._on_read.append(callback)

    def observe(self, store_at: datetime, monotonic_at: float) -> None:
        """The store's clock read `store_at` when this node's monotonic clock read
        `monotonic_at`."""
        self._read = (store_at, monotonic_at)
        for callback in self._on_read:
            callback(store_at)

    def now(self) -> datetime:
        """The store's time now: at the last read of its clock plus the monotonic time
        elapsed since (this node's wall clock before any read)."""
        if self._read is None:
            return self.wall()
        store_at, monotonic_at = self._read
        return store_at + timedelta(seconds=self.monotonic() - monotonic_at)


async def read_clock(store: Store, clock: StoreClock) -> datetime:
    """The store's time (`Store.clock`); `clock` told it, with the monotonic clock as it
    read around it (the middle)."""
    ticked = clock.monotonic()
    at = await store.clock()
    clock.observe(at, (ticked + clock.monotonic()) / 2)
    return at
