"""Where a returning user lands, and what they missed there: a serious server brings you
back to the room you were talking in, not to the default room.

"Where": the member room the user was in when their telnet session ended, or joined later on
the web page, noted on the membership (`Store.enter_room`), so it goes with the membership:
nobody is brought back into a room they left, were kicked or banned from, or that was
deleted. It could not be derived from what was stored before: read cursors hold a message id
per room, and ids of different rooms do not compare. The newest such move wins, dated by
`now` (the store's time on a node): by the wall clock, one written while the node's clock
stood a day forward won over every later one for the day (floor59).

"What they missed": the messages after their read cursor there (the one `/receive` and the
HTTP read marker use), counted as `Messaging.unread_count` counts. A telnet session reads one
room at a time and is shown everything said in it while it listens, after the newest
`history_on_join` messages its join showed. When that history reached back to the read
cursor (`Membership.join_reading`), the session was shown all the user had not read there,
so when it stops (a switch to another room, a logout) the room is marked read up to the
newest message it was handed there (the hub's, `Subscriptions.newest`): one stamped before
then but still on its way to this node (another node's, through the broker) was not shown,
and stays unread. When it did not (more had come than a join shows, or the read budget was
spent), or the session stopped with lines it was given still unsent (dropped
for not reading, its connection lost or reset, a switch or our close with output queued), the
cursor stays where it was: a later `/receive` gives some lines again rather than never giving
the ones passed over (an acknowledged message is never lost). Our close (a /quit) and the
client's EOF are judged when they happen, not when the connection is lost: what is said in
between never reaches the client.
Those writes (and a logout's room) are queued and made by one task, off the logout path,
`WRITTEN_AT_ONCE` together (10,000 clients leaving at once are not held up by their writes; a
user switching rooms again and again has one move per room queued, not one per switch); a
login of the same user first makes its own.

Private messages the same way: a session's end moves the inbox's cursor to the newest private
message it was handed (`inbox_left`), and a login counts those others sent since
(`missed_private`); telnet's `/msgs` shows them and moves it too (`read_private`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice

from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.models import Departure, Room
from torbit.core.names import inbox_channel, name_key
from torbit.core.ports import Store
from torbit.errors import TorbitError

log = logging.getLogger(__name__)

# queued moves written together: one commit on SQLite for up to this many logouts, where one
# each took the loop ~0.1 ms (10,000 telnet clients leaving at once: py-spy --native)
WRITTEN_AT_ONCE = 128


class Comeback:
    def __init__(
        self,
        store: Store,
        membership: Membership,
        messaging: Messaging,
        newest: Callable[[str], int | None],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._membership = membership
        self._messaging = messaging
        self._now = now
        self._newest = newest
        # (user key, room key): the newest message id a session that stopped reading it was
        # handed there, if it was shown all that was unread (None: not); when a session
        # ended there (None: none did)
        self._pending: dict[tuple[str, str], tuple[int | None, datetime | None]] = {}
        self._worker: asyncio.Task[None] | None = None
        # the users whose moves the worker is writing now, done when written
        self._writing: tuple[set[str], asyncio.Future[None]] | None = None

    async def entered(self, user: str, room: Room) -> None:
        """The user joined the room (the web page): where they land next time. Not
        written (the store is down): they land where they went before, and are not told
        of the failure of something they did not ask for."""
        try:
            await self._store.enter_room(room.key, name_key(user), self._now())
        except TorbitError as e:
            log.warning("could not note that %s went into #%s: %s", user, room.name, e)

    async def last_room(self, user: str) -> str | None:
        """Key of the member room the user went into last, if any."""
        return await self._store.last_entered(name_key(user))

    def left(
        self,
        user_key: str,
        room_key: str,
        *,
        read: bool,
        last: bool = False,
        handed: int | None = None,
    ) -> None:
        """A session stopped reading the room. `read`: it was shown all the user had not read
        there (`Membership.join_reading`), so the room is marked read up to the newest message
        handed to it, soon (see the module docstring); else the cursor stays. `last`: the
        session ended there, so the user's next login comes back to it. `handed`: the newest
        message it was handed there, judged earlier (a telnet client's EOF); else now."""
        pair = (user_key, room_key)
        # another session's, not written yet: its move and its ending kept unless this one's
        # replace them (a later move is no less true: it was judged against the same cursor)
        read_up_to, ended_at = self._pending.get(pair, (None, None))
        if read:  # 0 when it was handed nothing: the cursor is kept, or made (nothing read)
            if handed is None:
                handed = self._newest(room_key) or 0
            read_up_to = handed if read_up_to is None else max(read_up_to, handed)
        self._pending[pair] = (read_up_to, self._now() if last else ended_at)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def return_to(self, user: str) -> str | None:
        """The room a login of the user goes back to (a key), if any; their queued writes
        are made first, so that a quick reconnect finds them."""
        key = name_key(user)
        await self._settle(key)
        return await self._store.last_entered(key)

    async def missed(self, user: str, room: Room) -> int | None:
        """How many messages others sent in the room since the user last read it (their own,
        sent from another door meanwhile, are not news to them); None if they never read
        there (no read cursor: nothing to count from). Asked once the user is in the room
        again (two statements: the cursor, the count)."""
        cursor = await self._store.get_cursor(name_key(user), room.key)
        if cursor is None:
            return None
        return await self._messaging.unread_in(user, room, cursor, others=True)

    def inbox_left(self, user_key: str, handed: int | None = None) -> None:
        """A telnet session of the user ended with all it was handed of their inbox sent:
        the private messages up to the newest it was handed are not missed at their next
        login (`missed_private`). Nothing handed: nothing to write (a crowd leaving makes
        no write more). `handed`: the newest it was handed, judged earlier; else now."""
        inbox = inbox_channel(user_key)
        if handed is None:
            handed = self._newest(inbox)
        if handed is not None:
            self.left(user_key, inbox, read=True, handed=handed)

    async def missed_private(self, user: str) -> int | None:
        """How many private messages others sent the user since a telnet session of theirs
        last ended having been handed some (`inbox_left`), or `/msgs` showed them
        (`read_private`); with neither yet, since the account was made (within the
        retention). None where the log cannot count them cheaply (`private_unread`)."""
        key = name_key(user)
        await self._settle(key)
        cursor = await self._store.get_cursor(key, inbox_channel(key))
        return await self._messaging.private_unread(user, cursor)

    async def read_private(self, user: str, up_to: int) -> None:
        """The user was shown their private messages up to this id (telnet's `/msgs`): not
        counted as missed at their next login."""
        key = name_key(user)
        await self._store.set_cursor(key, inbox_channel(key), up_to)

    @property
    def idle(self) -> bool:
        """No read cursor move queued or being written (tests count statements after it)."""
        return self._worker is None

    async def _settle(self, user_key: str) -> None:
        """The user's queued cursor moves, written now: a quick reconnect's count needs them."""
        writing = self._writing
        if writing is not None and user_key in writing[0]:
            await asyncio.shield(writing[1])
        mine = [self._moved(pair) for pair in self._pending if pair[0] == user_key]
        if mine:
            await self._store.note_departures(mine)

    def _moved(self, pair: tuple[str, str]) -> Departure:
        """The pair's queued move, no longer queued."""
        return Departure(*pair, *self._pending.pop(pair))

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                moves = [self._moved(pair) for pair in list(islice(self._pending, WRITTEN_AT_ONCE))]
                done = loop.create_future()
                self._writing = ({m.user_key for m in moves}, done)
                try:
                    await self._store.note_departures(moves)
                except TorbitError as e:  # the store or log is down: those moves are lost
                    log.warning("could not mark %d room(s) read: %s", len(moves), e)
                finally:
                    self._writing = None
                    done.set_result(None)
                # SQLite makes these writes on the loop's thread without suspending: let the
                # loop poll between two batches
                await asyncio.sleep(0)
        finally:
            self._worker = None

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
