"""Housekeeping: messages past the retention and expired login tokens are deleted, every
minute, on every node (deleting is idempotent; Kafka expires its own records)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from torbit.core.ports import MessageLog, Store
from torbit.errors import TorbitError

log = logging.getLogger("torbit.retention")

PURGE_INTERVAL = 60.0


class Retention:
    def __init__(
        self,
        store: Store,
        message_log: MessageLog,
        keep: timedelta,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = message_log
        self.keep = keep
        self._now = now

    async def purge_expired(self) -> int:
        """Delete what expired; the number of messages deleted."""
        await self._store.purge_tokens(self._now())
        return await self._log.purge(self._now() - self.keep)

    async def run(self, interval: float = PURGE_INTERVAL) -> None:
        """Purge forever (cancel to stop); a failed round is logged and retried next time."""
        while True:
            try:
                n = await self.purge_expired()
                if n:
                    log.info("retention: purged %d expired messages", n)
            except TorbitError as e:
                log.warning("retention purge failed: %s", e)
            await asyncio.sleep(interval)
