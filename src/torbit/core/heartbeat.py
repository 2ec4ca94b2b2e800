"""Presence heartbeats between nodes: send this node's beats (core/presence.py says what is
in them), apply the other nodes' and forget the silent ones. The app runs `run` as a task
only where there are other nodes (a shared message log); a single node has no table at all.

A change another node makes to a room's presence (a user came, or went from every node,
or vanished with a dead node) is told to this node's listeners of the room like a local
join or leave (`on_change`). A node does not keep its changes for the next beat: a local
change (or a snapshot asked for) schedules a beat `soon` (EARLY seconds later, gathering
what else changes meanwhile), so the others hear of it a broker round trip later, not a
heartbeat later; at most one early beat every EARLY seconds per node, so a login storm
costs a handful of records a second, not one per login. The interval's beat still goes
out when nothing changed: it is what keeps a node from expiring elsewhere.

What a dead node leaves in the store (its IRC guests' accounts: core/guests.py) is reclaimed
by `reclaim`, run as a task: once on each node when it has listened to the cluster for an
expiry since its start (its table is complete: every live node has beaten since), so a node
restarted after a crash deletes what it left; and, when a node's heartbeats lapse, on one
surviving node only (the one whose id sorts first among the nodes it knows alive), so a
node that never comes back is cleaned up too. Only while this node's own beats have been
leaving for an expiry or more: a node cut off from the log sees every other node lapse, and
must not take their users for dead; a reclaim owed meanwhile waits until then. Nor do the
other nodes take a node cut off from the log for dead while it renews its lease in the store
(`lease`, every interval): its guests stay theirs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from torbit.core.events import (
    NodeEvent,
    NodeEvents,
    PresenceBeat,
    PresenceDetails,
    PresenceWanted,
)
from torbit.core.presence import Change, PresenceTable
from torbit.core.tasks import cancel_and_wait

log = logging.getLogger("torbit.presence")

GOODBYE_TIMEOUT = 2.0  # seconds; a node stopping does not wait longer for a broker away
EARLY = 0.1  # seconds from a change here to the beat that tells it (at most one per EARLY)


class Heartbeat:
    def __init__(
        self,
        table: PresenceTable,
        events: NodeEvents,
        *,
        interval: float,
        on_change: Callable[[Change], None] | None = None,
        reclaim: Callable[[], Coroutine[Any, Any, None]] | None = None,
        lease: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """`lease`: renews this node's lease in the store (core/guests.py), every interval,
        beside the beats: the guests of a node cut off from the log are kept by it."""
        self.table = table
        self._events = events
        self._interval = interval
        self._on_change = on_change
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing = False
        self._early = min(EARLY, interval)
        self._soon: asyncio.TimerHandle | None = None
        self._beating = False  # an early beat is on its way
        self._again = False  # something changed meanwhile: another one after it
        self._stopped = False
        self._reclaim = reclaim
        self._reclaiming: asyncio.Task[None] | None = None
        self._reclaim_again = False
        self._lease = lease
        self._leasing: asyncio.Task[None] | None = None
        self._due: float | None = None  # when a reclaim is owed (`sweep`)
        self._sent_since: float | None = None  # beats have left without a failure since
        self._sent_last = 0.0  # when a beat last left
        self._sending = asyncio.Lock()  # one beat at a time: receivers see seqs in order
        table.changed = self.soon
        events.on(PresenceBeat, self._on_beat)
        events.on(PresenceWanted, self._on_wanted)
        events.on(PresenceDetails, table.apply_details)

    async def start(self) -> None:
        """Ask every node for a snapshot, and send this node's first (best effort: a log
        that is away now gets them at the next beats)."""
        self._due = self.table.now() + self.table.expiry
        self._renew()
        try:
            await self._events.publish(PresenceWanted())
        except Exception as e:
            log.warning("cannot ask for the other nodes' presence: %r", e)
        await self.beat()

    def soon(self) -> None:
        """Something changed here: beat EARLY seconds from now (or once the early beat on
        its way has left), unless one is due already or the log is refusing beats (the
        interval's beat retries then)."""
        if self._failing or self._stopped:
            return
        if self._beating:
            self._again = True
            return
        if self._soon is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a table used alone): the interval's beat sends it
            return
        self._soon = loop.call_later(self._early, self._beat_soon)

    def _beat_soon(self) -> None:
        self._soon = None
        self._beating = True
        self._spawn(self._early_beat())

    async def _early_beat(self) -> None:
        try:
            await self.beat()
        except Exception:
            log.exception("presence heartbeat failed")
        finally:
            self._beating = False  # only now: early beats never overlap
            if self._again:
                self._again = False
                self.soon()

    async def beat(self) -> bool:
        """Send what changed here since the last beat; False if the log refused it (the next
        beat then sends a full snapshot), then the details of the users they brought."""
        async with self._sending:
            return await self._send()

    async def _send(self) -> bool:
        for beat in [*self.table.beats(), *self.table.described()]:
            try:
                await self._events.publish(beat)
            except Exception as e:
                self.table.resend()
                self._sent_since = None
                if not self._failing:
                    log.warning("presence heartbeat not sent: %r; retrying", e)
                self._failing = True
                return False
        if self._failing:
            log.warning("presence heartbeat sent again")
        self._failing = False
        now = self.table.now()
        if self._sent_since is None:
            self._sent_since = now
        self._sent_last = now
        return True

    def sweep(self) -> int:
        """Forget the nodes not heard from in time; how many users that took offline. What
        a dead node left is reclaimed here (`reclaim`) if this node is the first alive, and
        once after this node's start."""
        alive = self.table.nodes()
        changes = self.table.expire()
        self._tell(changes)
        now = self.table.now()
        lapsed = len(self.table.nodes()) < len(alive)
        if lapsed and self.table.node == min([self.table.node, *self.table.nodes()]):
            self._due = now if self._due is None else min(self._due, now)
        if self._due is not None and now >= self._due and self._connected(now):
            self._due = None
            self._start_reclaim()
        return len(changes)

    def connected(self) -> bool:
        """Whether this node hears the cluster (`_connected`): a reclaim that goes on over
        several sweeps (core/guests.py) stops once it does not; the next one is owed then."""
        return self._connected(self.table.now())

    def _connected(self, now: float) -> bool:
        """Whether this node's beats have been leaving without a failure for an expiry or
        more, and one left within the expiry (a publish may hang while the log is away)."""
        expiry = self.table.expiry
        since = self._sent_since
        return since is not None and now - since >= expiry and now - self._sent_last <= expiry

    def _renew(self) -> None:
        """Renew the lease (`lease`) as a task of its own, unless the last one still runs: a
        store away holds up neither the beats nor the sweeps."""
        if self._lease is None or self._stopped:
            return
        if self._leasing is not None and not self._leasing.done():
            return
        self._leasing = asyncio.get_running_loop().create_task(self._lease())
        self._tasks.add(self._leasing)
        self._leasing.add_done_callback(self._renewed)

    def _renewed(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (e := task.exception()) is not None:
            log.warning("cannot renew this node's lease in the store: %r", e)

    def _start_reclaim(self) -> None:
        """Run `reclaim`, one at a time (one asked for while another runs follows it)."""
        if self._reclaim is None or self._stopped:
            return
        if self._reclaiming is not None and not self._reclaiming.done():
            self._reclaim_again = True
            return
        self._reclaiming = asyncio.get_running_loop().create_task(self._reclaim())
        self._tasks.add(self._reclaiming)
        self._reclaiming.add_done_callback(self._reclaimed)

    def _reclaimed(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (e := task.exception()) is not None:
            log.warning("reclaiming what a dead node left failed: %r", e)
        if self._reclaim_again:
            self._reclaim_again = False
            self._start_reclaim()

    async def run(self) -> None:
        """Beat and sweep every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self._interval)
            self._renew()
            try:
                self.sweep()  # first: a beat held up by a broker away must not delay it
                await self.beat()
            except Exception:
                log.exception("presence heartbeat failed")

    async def stop(self) -> None:
        """Say goodbye, so the others drop this node's users now rather than at expiry. A
        lease being written gets GOODBYE_TIMEOUT to end; then every task still running is
        cancelled and awaited, so none holds a store connection once the store closes
        (core/tasks.py)."""
        if self._soon is not None:
            self._soon.cancel()
        self._stopped = True  # no early beat from now on
        leasing = self._leasing
        for task in list(self._tasks):
            if task is not leasing:  # a store write cut in the middle holds up its close
                task.cancel()
        if leasing is not None:
            await asyncio.wait([leasing], timeout=GOODBYE_TIMEOUT)
        try:
            async with asyncio.timeout(GOODBYE_TIMEOUT):
                await self._events.publish(self.table.goodbye())
        except Exception as e:  # the others will expire us instead
            log.info("presence goodbye not sent: %r", e)
        await cancel_and_wait(self._tasks)

    def _on_beat(self, beat: PresenceBeat) -> None:
        changes, ask = self.table.apply(beat)
        self._tell(changes)
        if ask:
            self._spawn(self._ask(PresenceWanted(beat.node)))

    def _on_wanted(self, event: PresenceWanted) -> None:
        if event.node in ("", self.table.node):
            self.table.resend()
            self.soon()  # a node that starts learns who is online now, not a beat later

    def _tell(self, changes: list[Change]) -> None:
        if self._on_change is not None:
            for change in changes:
                self._on_change(change)

    async def _ask(self, event: NodeEvent) -> None:
        try:
            await self._events.publish(event)
        except Exception as e:  # asked again at the node's next beat
            log.info("cannot ask for a presence snapshot: %r", e)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
