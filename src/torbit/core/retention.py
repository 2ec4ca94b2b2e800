"""Housekeeping, every minute, on every node (deleting is idempotent; Kafka expires its own
records): messages past the retention, expired login tokens, audit entries past their
retention, and rooms left with neither members nor messages once their grace period is over
(so rooms created and left cost nothing for long, whoever creates them). Until its round
comes (or the broker's), an expired message is still in the log, and no read shows it
(`Membership.floor`).

Every cutoff is the store's time as this node tells it (`now`, core/storeclock.py), never
its wall clock: what one node deletes from the shared store it deletes for every node, and
one stepped a day forward (a VM resumed, NTP) deleted the last day (storeclock59). Kafka's
records expire by the broker's clock against each record's timestamp (its producing node's
wall clock), which this round does not touch."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from torbit.core.ports import MessageLog, Store
from torbit.errors import TorbitError

log = logging.getLogger("torbit.retention")

PURGE_INTERVAL = 60.0
ROOMS_PER_ROUND = 100  # empty rooms looked at per round, so one round stays short


@dataclass(frozen=True, slots=True)
class Purged:
    messages: int = 0
    audit_entries: int = 0
    rooms: int = 0


class Retention:
    def __init__(
        self,
        store: Store,
        message_log: MessageLog,
        keep: timedelta,
        *,
        audit_keep: timedelta | None = None,
        empty_room_grace: timedelta | None = None,
        keep_rooms: frozenset[str] = frozenset(),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`audit_keep` and `empty_room_grace` None: audit entries and empty rooms stay;
        `keep_rooms` (keys) are never removed (the default room). `now`: the store's time
        as this node tells it (core/storeclock.py), which everything here is purged by: by
        this node's wall clock, one stepped forward deleted live tokens (clock59), and the
        last day's messages, audit entries and empty rooms (storeclock59), for every node."""
        self._store = store
        self._log = message_log
        self.keep = keep
        self.audit_keep = audit_keep
        self.empty_room_grace = empty_room_grace
        self._keep_rooms = keep_rooms
        self._now = now
        self._rooms_after: str | None = None  # where the sweep of empty rooms goes on

    async def purge_expired(self) -> Purged:
        """Delete what expired; how much of each was deleted."""
        now = self._now()
        await self._store.purge_tokens(now)
        messages = await self._log.purge(now - self.keep)
        audit = 0
        if self.audit_keep is not None:
            audit = await self._store.purge_audit(now - self.audit_keep)
        rooms = 0
        if self.empty_room_grace is not None:
            rooms = await self.remove_empty_rooms(now - self.empty_room_grace)
        return Purged(messages, audit, rooms)

    async def remove_empty_rooms(self, created_before: datetime) -> int:
        """Remove up to ROOMS_PER_ROUND rooms created before `created_before` with no members
        and no messages; the sweep goes on from there next round, and starts over at the end."""
        keys = await self._store.empty_rooms(
            created_before, after=self._rooms_after, limit=ROOMS_PER_ROUND
        )
        self._rooms_after = keys[-1] if len(keys) == ROOMS_PER_ROUND else None
        removed = 0
        for key in keys:
            if key in self._keep_rooms or await self._log.read(key, limit=1, newest=True):
                continue
            if await self._store.delete_room_if_empty(key):
                log.info("retention: removed the empty room #%s", key)
                removed += 1
        return removed

    async def run(self, interval: float = PURGE_INTERVAL) -> None:
        """Purge forever (cancel to stop); a failed round is logged and retried next time."""
        while True:
            try:
                purged = await self.purge_expired()
                if purged.messages:
                    log.info("retention: purged %d expired messages", purged.messages)
                if purged.audit_entries:
                    log.info("retention: purged %d old audit entries", purged.audit_entries)
            except TorbitError as e:
                log.warning("retention purge failed: %s", e)
            await asyncio.sleep(interval)
