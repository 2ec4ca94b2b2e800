"""What every part of Messaging shares (core/messaging.py puts the parts together): the
engines, the limits, the text filter, the two checks both kinds of send make (the text as
it will be stored and the sender's rate) and the check every read of a room makes again once
it has read (`_still_readable`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from torbit.core.banmasks import Visitor
from torbit.core.ignores import Ignores
from torbit.core.keylocks import KeyLocks
from torbit.core.limits import RateLimiter, ReadBudget, RoomRates
from torbit.core.membership import Membership
from torbit.core.models import Message
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

    async def _still_readable(
        self,
        user: str,
        room_name: str,
        visitor: Visitor | None,
        ignores: frozenset[str],
        read: list[Message],
    ) -> list[Message]:
        """A page read after its checks, checked again before it is answered (and a cursor
        moved): a kick, ban, ban mask or ignore applied here while the log was read (a Kafka
        read takes ms, more on a busy node) let a page through with messages posted after the
        admin was answered (stop 49's probe; history and a receive's masks: attack53,
        tests/security/test_read_while_put_out.py). Both are this node's memory: no store
        read unless the membership ended or a mask is set. `ignores`: the reader's, as the
        read left them out."""
        await self._membership.member_room(user, room_name, visitor)
        now = await self._ignores.of(user)
        if now is ignores:
            return read
        return [m for m in read if m.sender_key not in now]
