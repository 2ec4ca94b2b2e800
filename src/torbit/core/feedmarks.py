"""How a process that is not a node (the CLI) tells the nodes through the store's feed and
learns that they have applied what it told: taking a right away is answered after it holds
on every node alive, or says which nodes had not confirmed it.

`torbit user set-admin NAME --revoke` wrote the right away and a revocation to the feed
(core/revocation.py) and answered at once: an act of the user under way on a node (a kick
that read the right before and was written after) landed after the CLI said the right was
gone (demote55). Now each node, applying a revocation of an account from the feed, first
waits for the account's acts under way there (`room_authority.account_turn`), and writes to
the store how far it has applied the feed (`Store.mark_applied`); `StoreFeed.confirmed`
waits until every node alive has passed the rows this process wrote, at most `bound`
seconds. A node is alive while its mark (or, never having marked, its lease: core/guests.py)
is younger than ALIVE_S by the store's clock (`Store.clock`, which dates the marks too; a
lease is dated by its node's): one killed just now is waited for until the bound, then
named; one gone longer, or stopped cleanly (its mark dated back: `Revocations.goodbye`), is not.

A mark past a row does not say the node read it: a serial whose row was not written within
`GAP_WAIT_S` is passed over (core/revocation.py), and the row, written late, is applied at
the node's next poll after it lands, its mark past it all the while. The wait is for a
barrier instead, a row that means nothing to a node, written once the rows are: a node
passes it only by reading the feed after it was written, which finds every row written
before it (a serial passed over is looked for again at each poll). Waiting on the rows'
own serials, a CLI whose row was passed over was answered "applied" before (attack57).

A serial passed over is looked for LATE_S only (core/revocation.py; every one, up to
LATE_CAP: past it a node waits at the gap, its mark behind, heal60): a row whose serial was
taken more than GAP_WAIT_S + LATE_S before it landed may never be read by a node that was
polling then, which passes the barrier all the same. That takes a write held that long
between its serial and its commit: PostgreSQL's sequence is taken at the INSERT, and the
COMMIT of a CLI cut off from the database (a partition: TCP retries its packet for some 15
minutes) or stopped (^Z) in between lands when it resumes; Cassandra's serial is its own
write before the row's. SQLite has one writer at a time, and no gap. Rare, but then the
barrier says nothing of the row: the CLI times each of its writes, and past that bound it
names every node alive as not confirmed, saying why (clock59: it said "applied" before).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from torbit.core.events import Expelled, NodeEvent, RoomDeleted, RoomDeletedAt
from torbit.core.models import Revocation
from torbit.core.ports import Store
from torbit.core.revocation import FEED_EVENT, GAP_WAIT_S, LATE_S, MARK_EVERY, feed_event

# a barrier: a feed row that is no event (`as_event` reads none) and revokes nothing
BARRIER = Revocation("", "", FEED_EVENT)
WAIT_S = 5.0  # at most, by default, for every node alive to apply what the CLI wrote
ALIVE_S = 3 * MARK_EVERY  # a node whose mark (or lease) is older is taken for stopped
LOOK_EVERY = 0.1  # seconds between two reads of the nodes' marks
# a row that took this long to land (its serial taken, then its commit) may have been given
# up by the nodes that passed its serial over: at least this long after it was taken
LOOKED_FOR_S = GAP_WAIT_S + LATE_S


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A node alive that had not said it applied the rows when the wait ended: `applied`
    is the serial it had reached (None: it never says, a node of an older version)."""

    node: str
    applied: int | None
    given_up: bool = False  # it may have stopped looking for a row that landed too late


class StoreFeed:
    """The store's feed as the CLI writes to it: `revoke` and `tell` for Accounts (as
    demotion.py's `through_the_store`), remembering the newest row written, and `confirmed`
    to wait for the nodes."""

    def __init__(
        self,
        store: Store,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._now = now
        self._monotonic = monotonic  # times each write: see `slowest`
        self.newest = 0  # the newest serial this process wrote (0: none)
        self.slowest = 0.0  # seconds the slowest of its rows took to land
        self._barrier = 0  # the serial of the barrier written after it (0: none yet)

    async def revoke(self, revocation: Revocation) -> int:
        began = self._monotonic()
        return self._wrote(await self._store.add_revocation(revocation, self._now()), began)

    async def tell(self, event: NodeEvent) -> int:
        # the row's user column: the room's key for an event about a room
        room = event.room if isinstance(event, Expelled | RoomDeleted | RoomDeletedAt) else ""
        began = self._monotonic()
        return self._wrote(await feed_event(self._store, event, self._now(), room), began)

    def _wrote(self, serial: int, began: float) -> int:
        self.newest = max(self.newest, serial)
        self.slowest = max(self.slowest, self._monotonic() - began)
        return serial

    async def confirmed(self, bound: float = WAIT_S) -> list[Unconfirmed]:
        """Wait until every node alive has applied the feed up to the newest row written
        here, at most `bound` seconds; the nodes that had not (none: every node confirmed,
        or nothing was written). Waited on a barrier written after it (above)."""
        if not self.newest:
            return []
        if self._barrier <= self.newest:
            self._barrier = await self._store.add_revocation(BARRIER, self._now())
        end = time.monotonic() + bound
        given_up = self.slowest >= LOOKED_FOR_S  # the barrier tells nothing (above)
        while True:
            # the marks' age by the store's clock, which dates them (attack57: by the CLI's
            # and each node's own, a node whose clock ran 30 s behind was not waited for)
            since = await self._store.clock() - timedelta(seconds=ALIVE_S)
            marks = await self._store.nodes_applied(since)
            late = [
                Unconfirmed(node, applied, given_up)
                for node, applied in sorted(marks.items())
                if given_up or applied is None or applied < self._barrier
            ]
            if not late or given_up or time.monotonic() >= end:
                return late
            await asyncio.sleep(min(LOOK_EVERY, max(0.0, end - time.monotonic())))


def describe(late: list[Unconfirmed], bound: float) -> str:
    """What the operator is told of the nodes that had not confirmed in time."""
    if any(u.given_up for u in late):
        return (
            f"a row took over {LOOKED_FOR_S:g} s to reach the store: the {len(late)} node(s) "
            f"seen alive ({', '.join(u.node for u in late)}) may have stopped looking for it "
            "and never apply it: restart them to be sure"
        )
    said = ", ".join(
        f"{u.node} ({'never says: an older version?' if u.applied is None else 'behind'})"
        for u in late
    )
    return (
        f"not confirmed within {bound:g} s by {len(late)} node(s) seen alive: {said}; "
        "they apply it once they read the store (a node killed lately is listed until "
        f"{ALIVE_S:g} s after its last mark; one stopped cleanly is not)"
    )
