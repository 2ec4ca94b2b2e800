"""The one subscription API: which local session listens to which channel, kept in step with
the channels this node watches on the message log (a channel is watched while it has a local
listener), and the route of every committed message to its listeners. Front doors and the
other services subscribe only through here; nobody else touches the hub or the log's watches.

Every `listen` asks the log to watch (watching is idempotent), so a watch that failed during
an outage is retried by the next listener rather than missing until everyone leaves.

Who is online, as whom and away, and who watches whom (MONITOR), is answered by the part
beside it, online_users.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Container, Coroutine, Iterator, Sequence, Set
from datetime import UTC, datetime, tzinfo
from typing import Any

from torbit.core.banmasks import Visitor
from torbit.core.delivery import Delivery, Names, Session, still_heard
from torbit.core.hub import Hub
from torbit.core.models import Message
from torbit.core.monitor import Monitors
from torbit.core.names import EVENTS_CHANNEL, inbox_channel, is_inbox, name_key
from torbit.core.online_users import OnlineUsers
from torbit.core.ports import MessageLog
from torbit.core.presence import ONLINE, PresenceTable
from torbit.core.wakeup import Wakeup

log = logging.getLogger("torbit.subscriptions")

MessageHook = Callable[[Message], None]
TranscriptRun = tuple[Sequence[Message], str]  # messages of one room, in order; its name

DELETED_KEPT = 1000  # room deletions a node remembers (core/roomdeletion.py)


class Subscriptions(OnlineUsers):
    def __init__(
        self,
        log: MessageLog,
        tz: tzinfo,
        *,
        on_event: MessageHook | None = None,
        transcript: Callable[[list[TranscriptRun]], None] | None = None,
        on_delivered: Callable[[float, int], None] | None = None,
        cluster: PresenceTable | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._log = log
        self._now = now  # the delivery latency's: sends are dated by the store's time
        self._hub = Hub(tz)
        # the newest message id handed to a channel's listeners here, if any (Hub.newest)
        self.newest = self._hub.newest
        # None on a single node: who is online here is who is online
        self.cluster = cluster
        if cluster is not None:
            self._hub.on_online = self._online_here
            cluster.describe = self.details
        self.tz = tz
        self._on_event = on_event
        self._transcript = transcript
        self._on_delivered = on_delivered
        self._tasks: set[asyncio.Task[None]] = set()
        self._room_names: dict[str, str] = {}  # display names of the rooms listened to here
        self.ignore_changes = 0  # ignore list changes applied here so far: Sessions.login
        self._monitors = Monitors(self.online_name)  # who watches whom (IRC's MONITOR)
        # guests whose client has gone, until their account is deleted (core/guests.py)
        self._guests_leaving: set[str] = set()
        # with a cluster: users whose first session here came before the other nodes' details
        # of them, by when (`unsure_away`); oldest first, kept for at most the expiry
        self._unsure: dict[str, float] = {}
        self._unsure_for = cluster.expiry if cluster is not None else 0.0
        self._clock = cluster.now if cluster is not None else time.monotonic
        # rooms deleted lately: key -> (the deleted room's creation, the deletion's time)
        self._deleted: dict[str, tuple[datetime, datetime]] = {}
        self._on_enter: list[Callable[[Session, str], None]] = []

    def on_enter(self, callback: Callable[[Session, str], None]) -> None:
        """Call `callback(session, channel)` whenever a session starts listening to a channel
        (core/leaves.py: a leave held before is not told to it)."""
        self._on_enter.append(callback)

    # committed messages (the message log's listener)

    def route(self, message: Message) -> None:
        """Node events to their handlers; room and inbox messages to the transcript (rooms
        only) and to every local listener."""
        transcribe: list[TranscriptRun] = []
        self._route_one(message, transcribe)
        if transcribe and self._transcript is not None:
            self._transcript(transcribe)

    def route_all(self, messages: Sequence[Message]) -> None:
        """`route` of a batch committed together, in order: consecutive messages of one room
        are dispatched as a run (`Hub.dispatch_run`), so a door that takes runs writes each
        session's share of the batch once; the batch goes to the transcript at once."""
        transcribe: list[TranscriptRun] = []
        i, end = 0, len(messages)
        while i < end:
            channel = messages[i].channel
            j = i + 1
            while j < end and messages[j].channel == channel:
                j += 1
            if j - i == 1 or channel == EVENTS_CHANNEL:
                for m in messages[i:j]:
                    self._route_one(m, transcribe)
            else:
                self._route_run(list(messages[i:j]), transcribe)
            i = j
        if transcribe and self._transcript is not None:
            self._transcript(transcribe)

    def _route_one(self, message: Message, transcribe: list[TranscriptRun]) -> None:
        if message.channel == EVENTS_CHANNEL:
            if self._on_event is not None:
                self._on_event(message)
            return
        if self._deleted and not self._undeleted([message]):
            return
        if self._transcript is not None and not is_inbox(message.channel):
            transcribe.append(((message,), self.room_name(message.channel)))
        if self._hub.dispatch(message) and self._on_delivered is not None:
            lag = (self._now() - message.sent_at).total_seconds()
            self._on_delivered(max(0.0, lag), 1)

    def _route_run(self, run: list[Message], transcribe: list[TranscriptRun]) -> None:
        if self._deleted and not (run := self._undeleted(run)):
            return
        channel = run[0].channel
        if self._transcript is not None and not is_inbox(channel):
            transcribe.append((run, self.room_name(channel)))
        if self._hub.dispatch_run(run) and self._on_delivered is not None:
            # one observation per send time: the messages of one publish share theirs
            now = self._now()
            at, n = run[0].sent_at, 0
            for m in run:
                if m.sent_at != at:
                    self._on_delivered(max(0.0, (now - at).total_seconds()), n)
                    at, n = m.sent_at, 0
                n += 1
            self._on_delivered(max(0.0, (now - at).total_seconds()), n)

    def room_deleted(self, room: str, created_at: datetime, at: datetime) -> None:
        """Room `room` (created at `created_at`) was deleted at `at`: what was sent to it
        before then and committed late reaches no one here (no listener of it is left; a room
        made again under the name is another). The last DELETED_KEPT are kept."""
        self._deleted.pop(room, None)
        self._deleted[room] = (created_at, at)
        if len(self._deleted) > DELETED_KEPT:
            del self._deleted[next(iter(self._deleted))]

    def deletion(self, room: str) -> tuple[datetime, datetime] | None:
        """The creation and deletion time of the room last deleted under this key, if lately."""
        return self._deleted.get(room) if self._deleted else None

    def _undeleted(self, run: list[Message]) -> list[Message]:
        gone = self._deleted.get(run[0].channel)
        return run if gone is None else [m for m in run if m.sent_at >= gone[1]]

    @property
    def delivered(self) -> int:
        """Deliveries made so far (for metrics)."""
        return self._hub.delivered

    # logged-in sessions

    async def attach(self, session: Session, name: str, ignores: frozenset[str]) -> None:
        """A session has logged in: it gets the user's private messages from now on. The
        user's first session here takes the away state another node has them in (core/away.py:
        it goes with the user's last session, wherever)."""
        fresh = self._hub.presence(name_key(name)) is None
        p = self._hub.attach(session, name, ignores)
        if fresh and self.cluster is not None:
            d = self.cluster.details(name_key(name))
            if d is not None and d.away:
                p.away = d.away
            elif d is None:  # another node may not have told its details of them yet
                self._unsure_since(name_key(name))
        self._inbox_presence(session.user_key)
        self._monitors.check(session.user_key)
        try:
            await self.listen(session, inbox_channel(name_key(name)))
        except BaseException:
            await self.detach(session)
            raise

    async def detach(self, session: Session) -> None:
        """Forget a session everywhere; channels left without listeners are unwatched."""
        key = session.user_key
        emptied = self._hub.detach(session)
        self._inbox_presence(key)
        self._monitors.check(key)
        for channel in emptied:
            await self._unwatch(channel)

    def detach_now(self, session: Session) -> None:
        """`detach` for synchronous callers (a revocation): the session gets nothing more from
        now on; channels left without listeners are unwatched soon."""
        key = session.user_key
        for channel in self._hub.detach(session):
            self._spawn(self._unwatch_if_unused(channel))
        self._inbox_presence(key)
        self._monitors.check(key)

    def depart(self, session: Session) -> None:
        """The session's client has gone (QUIT, closed); its logout may wait behind others
        leaving. It counts as online nowhere from now on: rooms' members, WHOIS, LUSERS."""
        self._hub.depart(session)
        self._inbox_presence(session.user_key)
        self._monitors.check(session.user_key)

    def _inbox_presence(self, user_key: str) -> None:
        """With a cluster: the user is in the presence table's ONLINE pseudo-room while
        online here, so that the other nodes know them online (and their details, their
        away) in no room too: an IRC client in no channel, a WebSocket in no room."""
        if self.cluster is None or not user_key:
            return
        p = self._hub.presence(user_key)
        online = p is not None and p.online
        self.cluster.local(ONLINE, user_key, p.name if p else user_key, online)

    def departed(self, session: Session) -> bool:
        return self._hub.departed(session)

    def guest_leaving(self, user_key: str, leaving: bool = True) -> None:
        """A guest's client has gone and its account is being deleted (`Guests.release`):
        until it is, the name is `gone` (leaving=False once it is deleted)."""
        if leaving:
            self._guests_leaving.add(user_key)
        else:
            self._guests_leaving.discard(user_key)

    def gone(self, user_key: str) -> bool:
        """The user has no session online here nor (with a cluster) on another node, or is
        a guest being deleted: a guest is then no one any more (`Messaging.send_private`),
        though its account may still be there (being deleted on its node, or left by a
        node that stopped without a goodbye). Another node's users are known a beat late
        (core/heartbeat.py: a broker round trip after they log in or out)."""
        if user_key in self._guests_leaving:
            return True
        p = self._hub.presence(user_key)
        if p is not None and p.online:
            return False
        return self.online_name(user_key) is None

    # listening to channels

    async def listen(self, session: Session, channel: str, *, hold: bool = False) -> None:
        """Listen to a channel (with hold=True, live messages wait for `release`). On failure
        the session is not left half-subscribed."""
        self._hub.enter(session, channel, hold)
        for entered in self._on_enter:
            entered(session, channel)
        try:
            await self._log.watch(channel)
        except BaseException:
            await self.stop_listening(session, channel)
            raise

    def release(self, session: Session, channel: str, after_id: int | None) -> None:
        """History shown up to `after_id`: deliver what was held past it, then go live."""
        self._hub.release(session, channel, after_id)

    def still_heard(self, session: Session, channel: str, held: list[Delivery]) -> list[Delivery]:
        """What a door held for a session joining `channel` (IRC, while its NAMES is read),
        as it may be shown now: nothing once it no longer listens (kicked, banned or gone
        from another session meanwhile: the hub's own hold drops its lines so), else what
        its ignores as they are now leave in (`delivery.still_heard`, ignore63)."""
        if not self._hub.is_listening(session, channel):
            return []
        return still_heard(held, session.ignores)

    async def stop_listening(self, session: Session, channel: str) -> None:
        if self._hub.exit(session, channel):
            await self._unwatch(channel)

    def drop(self, session: Session, channel: str) -> None:
        """`stop_listening` for synchronous callers (node event handlers): the unwatch runs
        soon, if the channel is still without listeners then."""
        if self._hub.exit(session, channel):
            self._spawn(self._unwatch_if_unused(channel))

    async def _unwatch_if_unused(self, channel: str) -> None:
        if not self._hub.listener_count(channel):
            await self._unwatch(channel)

    async def _unwatch(self, channel: str) -> None:
        self._room_names.pop(channel, None)
        await self._log.unwatch(channel)

    def name_room(self, channel: str, display: str) -> None:
        """The room's name as created (`Dev-Room` for `dev-room`), kept while it is listened
        to here: notices and the transcript name it so, whatever case people type."""
        self._room_names[channel] = display

    def room_name(self, channel: str) -> str:
        return self._room_names.get(channel, channel)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def wake_on(self, channel: str, visitor: Visitor | None = None) -> AsyncIterator[Wakeup]:
        """A Wakeup set whenever a message is committed to the channel, for a request that
        waits for one (long polling); it counts as no one online. Every message committed
        after this returns reaches it."""
        waiter = Wakeup(visitor)
        await self.listen(waiter, channel)
        try:
            yield waiter
        finally:
            await self.stop_listening(waiter, channel)

    def is_listening(self, session: Session, channel: str) -> bool:
        return self._hub.is_listening(session, channel)

    def listeners(self, channel: str) -> list[Session]:
        return self._hub.listeners(channel)

    def listener_count(self, channel: str) -> int:
        return self._hub.listener_count(channel)

    def channels_of(self, session: Session) -> list[str]:
        return self._hub.channels_of(session)

    # notices: each names the users it is about (`about`, keys), and never reaches a user
    # who ignores one of them, on any door

    def notify(
        self,
        channel: str,
        text: str,
        skip: Session | None = None,
        about: Names = (),
        late: Container[Session] = (),
    ) -> None:
        self._hub.notify(channel, text, skip, about, late)

    def notify_user(
        self, user_key: str, text: str, channel: str | None = None, about: Names = ()
    ) -> None:
        p = self._hub.presence(user_key)
        if p is None or (about and not p.ignores.isdisjoint(about)):
            return
        for session in list(p.sessions):
            session.notify(text, channel, about)

    def notify_sharing(
        self,
        user_key: str,
        channels: Set[str],
        text: str,
        max_listeners: int,
        seen: set[Session] | None = None,
    ) -> int:
        """A notice about a user to each session `sharing` tells of them. The number of
        sessions told; `seen` gets the sessions looked at."""
        about = (user_key,)
        told = 0
        for s in self.sharing(user_key, channels, max_listeners, seen):
            s.notify(text, None, about)
            told += 1
        return told

    def sharing(
        self,
        user_key: str,
        channels: Set[str],
        max_listeners: int,
        seen: set[Session] | None = None,
    ) -> Iterator[Session]:
        """The sessions here to tell of a change of a user (their away state, an IRC real
        name): those listening to one of `channels`, once each, but not the user's own nor
        those who ignore the user; channels of more than `max_listeners` listeners are left
        out. `seen` gets the sessions looked at."""
        about = (user_key,)
        seen = set() if seen is None else seen
        for channel in channels:
            listeners = self._hub.listeners(channel)
            if len(listeners) > max_listeners:
                continue
            for s in listeners:
                if s.user_key and s.user_key != user_key and s not in seen:
                    seen.add(s)
                    if s.ignores.isdisjoint(about):
                        yield s

    def notify_everyone(self, text: str) -> None:
        for p in self._hub.users():
            for s in list(p.sessions):
                s.notify(text)

    async def close(self) -> None:
        """Wait for pending unwatches (shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
