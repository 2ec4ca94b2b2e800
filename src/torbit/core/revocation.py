"""Revocation: closing the open sessions whose credentials no longer hold, on every node.

A logout closes the sessions opened with that token; a password change or an account
deletion closes every session the user opened with the old password (or with a token issued
from it). Each session remembers the proof it logged in with (core/sessions.py), so exactly
those are closed and a session opened with the new password stays.

Two roads lead to every node, both ending in the same `SessionsRevoked` node event:
- a node (an HTTP logout or password change) applies it at once and publishes it through the
  message log, as every node event;
- a process that is not a node (`torbit user passwd`/`del`) cannot publish on a running
  node's in-process log, so it appends the revocation to the store, and every node polls the
  store for new ones every POLL_INTERVAL seconds. Applying one twice is harmless: only
  sessions holding the revoked credential are closed, and none can be opened with it again.

The same feed carries the other node events such a process must tell the nodes (a room
deleted by `torbit room del`, core/roomdeletion.py): a row whose credential is FEED_EVENT
holds the encoded event in its reason (`feed_event`), and each node applies that event.

Each node writes to the store how far it has applied the feed (`Store.mark_applied`: every
row up to that serial applied, the work its handlers deferred ended, such as the account's
acts under way waited for), when that changes and every MARK_EVERY seconds besides (its
lease: a node that stops writing is no longer waited for); the CLI waits for every node
alive to pass a row it writes after its own (core/feedmarks.py: a mark passes a serial
passed over, whose row may still land).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from torbit.core.events import NodeEvent, NodeEvents, SessionsRevoked, decode, encode
from torbit.core.models import Revocation
from torbit.core.mutes import Mutes
from torbit.core.ports import Store
from torbit.core.sessions import Sessions
from torbit.core.storeclock import read_clock
from torbit.errors import ServiceUnavailable

log = logging.getLogger("torbit.revocation")

POLL_INTERVAL = 0.5  # seconds between two looks at the store's revocations
# A serial taken by a process that has not written its row yet (two CLI processes at once:
# the later one's row can be read first) is waited for this long, then passed over (its
# writer died, or a rolled back insert used it)
GAP_WAIT_S = 10.0
# A serial passed over is still looked for this long, every one of them: its writer may
# only have been slow (^Z, a synchronous standby away), not dead (attack57). An insert
# rolled back burns a serial too; keeping the newest 16 only, a slow row behind more than
# 16 of those was forgotten at once (heal60). At most LATE_CAP are kept (some 85 bytes
# each: under 1 MB); past it the node passes no more gaps over until older ones leave: it
# reads the feed again from the gap at each poll, its mark behind, rather than forget one
LATE_S = 600.0
LATE_CAP = 10_000
PAGE = 100  # revocations read from the store at a time
KEEP = timedelta(days=1)  # revocations older than this are purged from the store
MARK_EVERY = 5.0  # seconds: a node's mark is written at least this often (core/feedmarks.py)
GONE = datetime(1970, 1, 1, tzinfo=UTC)  # when a node that said goodbye was last seen


# the credential of a feed row that is a node event, not a revocation: no credential is
# this (they are hex), and a node of an older version would revoke nothing with it
FEED_EVENT = "node-event"


def as_event(r: Revocation) -> NodeEvent | None:
    if r.credential == FEED_EVENT:
        decoded = decode(r.reason)
        return decoded[0] if decoded is not None else None
    return SessionsRevoked(r.user, r.reason, r.credential, r.token, r.deleted)


async def feed_event(store: Store, event: NodeEvent, at: datetime, about: str = "") -> int:
    """Tell every node `event` through the store's feed, from a process that is not a node;
    `about`: a key for the row's user column (the room's). The row's serial."""
    return await store.add_revocation(Revocation(about, encode(event, ""), FEED_EVENT), at)


class Revocations:
    def __init__(
        self,
        store: Store,
        sessions: Sessions,
        events: NodeEvents,
        mutes: Mutes,
        *,
        poll_interval: float = POLL_INTERVAL,
        gap_wait: float = GAP_WAIT_S,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._events = events
        self._mutes = mutes
        self._poll = poll_interval
        self._serial = 0  # every revocation up to this serial applied (or passed over)
        self._ahead: set[int] = set()  # those applied past a serial not read yet
        self._gap_since: float | None = None
        self._gap_wait = gap_wait
        self._passed: dict[int, float] = {}  # serials passed over -> since when (monotonic)
        self._capped = 0  # the serial waited at once LATE_CAP were passed over (0: none)
        # rows applied whose handlers' work has not ended yet: serial -> that work
        self._working: dict[int, list[asyncio.Future[Any]]] = {}
        self._marked: tuple[int, float] | None = None  # the mark last written, and when
        events.on(SessionsRevoked, self._apply)

    async def revoke(self, revocation: Revocation) -> None:
        """Close the sessions here at once and on every other node (a node event)."""
        r = revocation
        await self._events.publish(
            SessionsRevoked(r.user, r.reason, r.credential, r.token, r.deleted), settled=True
        )

    def on_revoked(self, handler: Callable[[SessionsRevoked], None]) -> None:
        """Also call `handler` for every revocation (a door forgetting cached credentials)."""
        self._events.on(SessionsRevoked, handler)

    def _apply(self, event: SessionsRevoked) -> None:
        closed = self._sessions.revoke(event)
        if event.deleted:
            self._sessions.forget_user(event.user)
            self._mutes.forget_user(event.user)
        if closed:
            log.info("closed %d session(s) of %s: %s", closed, event.user, event.reason)

    # the store's feed, for revocations from outside the nodes

    async def start(self) -> None:
        """Start from the newest revocation: older ones concern sessions this node never had."""
        self._serial = await self._store.last_revocation()
        await self.mark()

    async def poll(self) -> int:
        """Apply the revocations added since the last poll; how many. Serials are taken
        before rows are written, so a row may be read before one of a lower serial: the
        poll goes on from the lowest serial not read yet (stop 54: going on from the
        highest, a CLI's `user passwd` or `room del` run beside another was missed by a
        node, 1 of 400 revocations from 20 writers at once on Cassandra). Past a gap it
        reads on page by page (stop 55: only the first page past it was read, so a burst
        of more than a page behind a gap waited for the gap's `gap_wait`)."""
        applied = 0
        scanned = self._serial
        while True:
            batch = await self._store.revocations_after(scanned, PAGE)
            for serial, revocation in batch:
                if serial in self._ahead:
                    continue
                self._ahead.add(serial)
                self._apply_row(serial, revocation)
                applied += 1
            if len(batch) < PAGE:
                self._advance()
                return applied + await self._late()
            scanned = batch[-1][0]

    def _apply_row(self, serial: int, revocation: Revocation) -> None:
        event = as_event(revocation)
        work = self._events.apply(event) if event is not None else []
        if work:
            self._working[serial] = work

    async def _late(self) -> int:
        """Apply the rows of serials passed over that were written since; how many. Before,
        a row written past `gap_wait` was never read: a password changed by a CLI slow to
        commit left the user's sessions open here for good (attack57)."""
        now = time.monotonic()
        for serial in [s for s, since in self._passed.items() if now - since >= LATE_S]:
            del self._passed[serial]
        found, looking = 0, sorted(self._passed)
        while looking:  # one read covers every serial looked for up to its last row
            limit = min(PAGE, looking[-1] - looking[0] + 1)
            batch = await self._store.revocations_after(looking[0] - 1, limit)
            for serial, row in batch:
                since = self._passed.pop(serial, None)
                if since is not None:
                    log.warning(
                        "feed row %d was written %.1f s after its gap was passed over",
                        serial,
                        now - since,
                    )
                    self._apply_row(serial, row)
                    found += 1
            if len(batch) < limit:
                break
            looking = [s for s in looking if s > batch[-1][0]]
        return found

    def _advance(self) -> None:
        """Move past the serials applied in a row; a missing one is waited for `gap_wait`,
        from the poll that first stopped at it (attack56: a gap filled while another was
        open behind it passed the other over at once, as if waited for since the first;
        in a burst of CLI writers, every gap past the first 10 s)."""
        moved = False
        while self._serial + 1 in self._ahead:
            self._serial += 1
            self._ahead.discard(self._serial)
            moved = True
        if not self._ahead:
            self._gap_since = None
            return
        now = time.monotonic()
        if self._gap_since is None or moved:
            self._gap_since = now
        elif now - self._gap_since >= self._gap_wait:
            passed = range(self._serial + 1, min(self._ahead))
            room = LATE_CAP - len(self._passed)
            if room < len(passed):  # not forgotten: waited for, read again at each poll
                if self._capped != passed[max(room, 0)]:
                    self._capped = passed[max(room, 0)]
                    log.warning(
                        "%d feed serials passed over in %g s: waiting at serial %d",
                        LATE_CAP,
                        LATE_S,
                        self._capped,
                    )
                passed = passed[: max(room, 0)]
                if not passed:
                    return
            self._passed.update((serial, now) for serial in passed)
            self._serial, self._gap_since = passed[-1], None
            self._advance()

    def applied(self) -> int:
        """The serial up to which every row of the feed is applied here, its work ended."""
        for serial, work in list(self._working.items()):
            if all(w.done() for w in work):
                del self._working[serial]
        return min([self._serial, *(s - 1 for s in self._working)])

    async def mark(self) -> None:
        """Write how far this node has applied the feed, if that changed or MARK_EVERY
        seconds passed (its lease for the CLI's wait)."""
        if self._working:  # a demotion's wait for acts under way: ended soon, mostly
            await asyncio.wait(
                [w for work in self._working.values() for w in work], timeout=self._poll
            )
        applied, now = self.applied(), time.monotonic()
        if self._marked is not None:
            last, at = self._marked
            if last == applied and now - at < MARK_EVERY:
                return
        # dated by the store's clock, as the CLI ages it: by this node's, one running 30 s
        # behind was taken for stopped and not waited for (attack57); the mutes are told it
        dated = await read_clock(self._store, self._mutes.clock)
        await self._store.mark_applied(self._events.origin, applied, dated)
        self._marked = (applied, now)

    async def goodbye(self) -> None:
        """At a clean stop, once no longer polling: this node's mark is dated back to the
        epoch, so that a CLI stops waiting for it at once (a node killed is waited for
        until its last mark is core/feedmarks.ALIVE_S old)."""
        await self._store.mark_applied(self._events.origin, self.applied(), GONE)

    async def purge(self) -> int:
        """Delete the feed's rows older than KEEP (the newest stays): how many. By the
        store's time: by this node's wall clock, one stepped a day forward deleted the last
        day's rows for every node (storeclock59); rows are dated by their writer's clock."""
        return await self._store.purge_revocations(self._mutes.clock.now() - KEEP)

    async def run(self) -> None:
        """Poll until cancelled; an unreachable store is retried at the next turn."""
        turns = 0
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.poll()
                await self.mark()
                turns += 1
                if turns % 7200 == 0:  # about once an hour
                    await self.purge()
            except ServiceUnavailable as e:
                log.warning("cannot look for revocations: %s", e.message)
            except Exception:
                log.exception("looking for revocations failed")
