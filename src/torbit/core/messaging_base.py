"""What every part of Messaging shares (core/messaging.py puts the parts together): the
engines, the limits, the text filter, and the two checks both kinds of send make: the text
as it will be stored and the sender's rate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from torbit.core.ignores import Ignores
from torbit.core.keylocks import KeyLocks
from torbit.core.limits import RateLimiter, ReadBudget, RoomRates
from torbit.core.membership import Membership
from torbit.core.mutes import Mutes
from torbit.core.names import name_key
from torbit.core.ports import MessageLog, Store
from torbit.core.text import clean_text

# A door whose caller is checked once per request (HTTP) passes a check that its login still
# holds (not revoked by a password change, logout or deletion applied on this node since),
# awaited as the last step before the message is drafted. Checked only at the request's
# start, a send whose own checks then waited on a busy node (up to 1.1 s was seen) was
# drafted, stored and delivered after the revocation (tests/scale/test_rights_race_cluster.py).
Holds = Callable[[], Awaitable[None]]


class MessagingBase:
    """The state and checks the parts of `Messaging` share; never used alone."""

    def __init__(
        self,
        store: Store,
        log: MessageLog,
        membership: Membership,
        ignores: Ignores,
        mutes: Mutes,
        *,
        max_message_bytes: int = 4096,
        rate: RateLimiter | None = None,
        room_rate: RoomRates | None = None,
        reads: ReadBudget | None = None,
        text_filter: Callable[[str], str] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = log
        self._membership = membership
        self._ignores = ignores
        self._mutes = mutes
        self.max_message_bytes = max_message_bytes
        self._rate = rate or RateLimiter(0, 0)
        self._room_rate = room_rate or RoomRates()
        self._reads = reads or ReadBudget()
        # the profanity filter, if configured: returns the text to store, or raises InvalidInput
        self._filter: Callable[[str], str] = text_filter or (lambda text: text)
        self._now = now
        self._reading = KeyLocks()  # (user key, room key): reads from the cursor, one at a time

    def prepare_text(self, text: str) -> str:
        """The text as it will be stored: cleaned, size checked, then the profanity filter.
        Raises InvalidInput / TooLarge saying why not."""
        return self._filter(clean_text(text, self.max_message_bytes))

    def _check_rate(self, user: str, room_key: str | None) -> None:
        key = name_key(user)
        self._rate.check(key)
        if room_key is not None:
            self._room_rate.check(key, room_key)
