"""Where a returning user lands, and what they missed there: a serious server brings you
back to the room you were talking in, not to the default room.

"Where": the member room the user last went into to talk in (telnet's /join), noted on the
membership (`Store.enter_room`), so it goes with the membership: nobody is brought back into
a room they left, were kicked or banned from, or that was deleted. It could not be derived
from what was stored before: read cursors hold a message id per room, and ids of different
rooms do not compare.

"What they missed": the messages after their read cursor there (the one `/receive` and the
HTTP read marker use), counted as `Messaging.unread_count` counts. A telnet session reads one
room at a time and is shown everything said in it, so when it stops (a switch to another
room, a logout) the room is marked read up to the newest message sent before then. Those
cursor moves are queued and written by one task, off the logout path (10,000 clients leaving
at once are not held up by 10,000 writes); a login of the same user first writes its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.models import Room
from torbit.core.names import name_key
from torbit.core.ports import MessageLog, Store
from torbit.errors import TorbitError

log = logging.getLogger(__name__)

# newest messages read to find the last one sent before a session stopped reading a room
# (the cursor write comes later; messages sent meanwhile are not marked read)
RECENT = 50


@dataclass(frozen=True, slots=True)
class Landing:
    """The room a login joins: `resumed`, the one the user last went into (else the default
    room); `unread`, the messages there after their read cursor (None: no cursor there)."""

    room: str
    resumed: bool
    unread: int | None


class Comeback:
    def __init__(
        self,
        store: Store,
        log: MessageLog,
        membership: Membership,
        messaging: Messaging,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._log = log
        self._membership = membership
        self._messaging = messaging
        self._now = now
        self._pending: dict[tuple[str, str], datetime] = {}  # (user key, room key): left at
        self._worker: asyncio.Task[None] | None = None
        # the move the worker is writing now, done when written
        self._writing: tuple[tuple[str, str], asyncio.Future[None]] | None = None

    async def entered(self, user: str, room: Room) -> None:
        """The user went into the room to talk in it: where they land next time. Not
        written (the store is down): they land where they went before, and are not told
        of the failure of something they did not ask for."""
        try:
            await self._store.enter_room(room.key, name_key(user), self._now())
        except TorbitError as e:
            log.warning("could not note that %s went into #%s: %s", user, room.name, e)

    async def last_room(self, user: str) -> str | None:
        """Key of the member room the user went into last, if any."""
        return await self._store.last_entered(name_key(user))

    def left(self, user_key: str, room_key: str) -> None:
        """A session that was shown everything said in the room stopped reading it: the room
        is marked read up to now, soon (see the module docstring)."""
        self._pending[(user_key, room_key)] = self._now()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def landing(self, user: str, default_room: str) -> Landing:
        """Where the user's login goes: their last room, with how many messages they have
        not read there; else `default_room` (one statement more than a login that always
        went there: the last room's look-up)."""
        key = name_key(user)
        await self._settle(key)
        last = await self._store.last_entered(key)
        if last is None:
            return Landing(default_room, False, None)
        unread = None
        if await self._store.get_cursor(key, last) is not None:
            unread = await self._messaging.unread_count(user, last)
        return Landing(last, True, unread)

    @property
    def idle(self) -> bool:
        """No read cursor move queued or being written (tests count statements after it)."""
        return self._worker is None

    async def _settle(self, user_key: str) -> None:
        """The user's queued cursor moves, written now: a quick reconnect's count needs them."""
        writing = self._writing
        if writing is not None and writing[0][0] == user_key:
            await asyncio.shield(writing[1])
        mine = [(u, r) for u, r in self._pending if u == user_key]
        for pair in mine:
            at = self._pending.pop(pair, None)
            if at is not None:
                await self._mark_read(*pair, at)

    async def _work(self) -> None:
        try:
            while self._pending:
                pair = next(iter(self._pending))
                at = self._pending.pop(pair)
                done = asyncio.get_running_loop().create_future()
                self._writing = (pair, done)
                try:
                    await self._mark_read(*pair, at)
                except TorbitError as e:  # the store or log is down: that move is lost
                    log.warning("could not mark #%s read for %s: %s", pair[1], pair[0], e)
                finally:
                    self._writing = None
                    done.set_result(None)
        finally:
            self._worker = None

    async def _mark_read(self, user_key: str, room_key: str, at: datetime) -> None:
        recent = await self._log.read(room_key, limit=RECENT, newest=True)
        seen = [m.id for m in recent if m.sent_at <= at]
        last = seen[-1] if seen else 0 if len(recent) < RECENT else None
        if last is not None:  # 0: nothing was said there before, all that came is new
            # at once: on SQLite committed on the loop's thread when it is free, no hand-off
            # to the driver's thread per logout (it only moves forward: order does not matter)
            await self._store.set_cursor(user_key, room_key, last, at_once=True)

    async def close(self, grace: float) -> None:
        """At shutdown, before the store closes: what is still queued is written, for up to
        `grace` seconds; moves not written by then are dropped (those rooms then show more
        unread messages, never fewer)."""
        worker = self._worker
        if worker is None:
            return
        done, _ = await asyncio.wait([worker], timeout=grace)
        if not done:
            log.warning("%d read cursor move(s) dropped at shutdown", len(self._pending))
            self._pending.clear()
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
