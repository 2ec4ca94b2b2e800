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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from torbit.core.events import NodeEvent, NodeEvents, SessionsRevoked, decode, encode
from torbit.core.models import Revocation
from torbit.core.mutes import Mutes
from torbit.core.ports import Store
from torbit.core.sessions import Sessions
from torbit.errors import ServiceUnavailable

log = logging.getLogger("torbit.revocation")

POLL_INTERVAL = 0.5  # seconds between two looks at the store's revocations
KEEP = timedelta(days=1)  # revocations older than this are purged from the store


# the credential of a feed row that is a node event, not a revocation: no credential is
# this (they are hex), and a node of an older version would revoke nothing with it
FEED_EVENT = "node-event"


def as_event(r: Revocation) -> NodeEvent | None:
    if r.credential == FEED_EVENT:
        decoded = decode(r.reason)
        return decoded[0] if decoded is not None else None
    return SessionsRevoked(r.user, r.reason, r.credential, r.token, r.deleted)


async def feed_event(store: Store, event: NodeEvent, at: datetime, about: str = "") -> None:
    """Tell every node `event` through the store's feed, from a process that is not a node;
    `about`: a key for the row's user column (the room's)."""
    await store.add_revocation(Revocation(about, encode(event, ""), FEED_EVENT), at)


class Revocations:
    def __init__(
        self,
        store: Store,
        sessions: Sessions,
        events: NodeEvents,
        mutes: Mutes,
        *,
        poll_interval: float = POLL_INTERVAL,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._events = events
        self._mutes = mutes
        self._poll = poll_interval
        self._now = now
        self._serial = 0
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

    async def poll(self) -> int:
        """Apply the revocations added since the last poll; how many."""
        applied = 0
        while True:
            batch = await self._store.revocations_after(self._serial)
            for serial, revocation in batch:
                self._serial = serial
                event = as_event(revocation)
                if event is not None:
                    self._events.apply(event)
                applied += 1
            if len(batch) < 100:
                return applied

    async def run(self) -> None:
        """Poll until cancelled; an unreachable store is retried at the next turn."""
        turns = 0
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.poll()
                turns += 1
                if turns % 7200 == 0:  # about once an hour
                    await self._store.purge_revocations(self._now() - KEEP)
            except ServiceUnavailable as e:
                log.warning("cannot look for revocations: %s", e.message)
            except Exception:
                log.exception("looking for revocations failed")
