"""In-process fan-out, private to the core (front doors use `Subscriptions`): which local
session listens to which channel, and handing each committed message to them. A message is
formatted and encoded once; per recipient the work is an ignore check (a set lookup) and a
non-blocking write, so one slow client never holds up the rest."""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Container, Iterator, Set
from datetime import tzinfo
from typing import NamedTuple

from torbit.core.delivery import Delivery, Fan, Names, Run, Session, still_heard
from torbit.core.models import Message
from torbit.core.names import is_inbox, name_key

# a channel's live listeners as dispatch walks them: (ignores, deliver, session)
_Live = tuple[tuple[Set[str], Callable[[Delivery], None], Session], ...]
# the live listeners who ignore no one and take a message with their door's others in one
# call (`Session.fan`): per door, its `Fan` and their targets
_Fans = tuple[tuple[Fan, tuple[object, ...]], ...]


class _Fanout(NamedTuple):
    """A channel's listeners as dispatch walks them: `waiting` those being shown history; a
    message or a run goes to `fans` and the `rest` of the live ones."""

    waiting: tuple[Session, ...]
    fans: _Fans
    rest: _Live


class Backlog:
    """A session being shown history: live deliveries are kept in `held` until it is released;
    after that, `shown_up_to` is the id of the last history message it saw, and live messages
    up to it are dropped as already shown (Kafka's consumer may lag the history read)."""

    __slots__ = ("held", "shown_up_to")

    def __init__(self) -> None:
        self.held: list[Delivery] | None = []
        self.shown_up_to = 0


class UserPresence:
    """What this node knows of one logged-in user: their sessions and their ignore set. The
    sessions are a list (a user has a handful; a one-element list is a third of a set's
    memory, and there is one of these per idle user). `departed`: how many of the sessions
    have lost their client and wait for their logout (`Hub.depart`). `away`: the user's away
    message, set from any door, shown on every one; it goes with their last session here."""

    __slots__ = ("away", "departed", "ignores", "name", "sessions")

    def __init__(self, name: str, ignores: frozenset[str]) -> None:
        self.name = name
        self.ignores = ignores
        self.sessions: list[Session] = []
        self.departed = 0
        self.away: str | None = None

    @property
    def online(self) -> bool:
        """True while one of the user's sessions here has its client still there."""
        return len(self.sessions) > self.departed


class Hub:
    """Listeners per channel (None: live; a Backlog while history is shown), users and their
    sessions, and per-channel online counts kept as sessions come and go."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._channels: dict[str, dict[Session, Backlog | None]] = {}
        # per channel, built at its first message after a change of its listeners: the live
        # ones with what dispatch needs of each, and those still being shown history. Saves
        # copying the listener dict and two attribute lookups per delivery.
        self._fanout: dict[str, _Fanout] = {}
        # session -> its channels, for O(own) cleanup; a list, as a session has a few (its
        # inbox and a room or two) and a set of two costs 216 bytes a session
        self._joined: dict[Session, list[str]] = {}
        self._users: dict[str, UserPresence] = {}
        # room -> user key -> sessions there, not counting departed ones; inboxes have no
        # "online" (one user's each)
        self._online: dict[str, dict[str, int]] = {}
        # room -> its online users' names sorted by `str.lower`, once asked for (`online`),
        # then kept in step as they come and go: a JOIN's NAMES no longer sorts the room
        self._sorted: dict[str, list[str]] = {}
        self._users_online = 0  # users with a session whose client is still there
        # sessions whose client is gone, their logout queued behind others (`depart`)
        self._departed: set[Session] = set()
        self.delivered = 0
        # channel -> the newest message id handed to its listeners here (live, or a join's
        # history), while it has listeners: how far a session that stops reading it has read
        # (core/comeback.py), where the clock would count one stamped before but still on its way
        self._newest: dict[str, int] = {}
        # `newest(channel)`: the newest message id its listeners here were handed, if any
        # since it had one; the dict's own `get`, no Python call: every telnet session's end
        # asks it twice, 10,000 of them in one poll when a crowd leaves (bench/JOURNAL.md)
        self.newest: Callable[[str], int | None] = self._newest.get
        # told (room, user key, online) when a user's first session here enters a room and
        # when their last one leaves it: the cluster's presence table (core/presence.py)
        self.on_online: Callable[[str, str, bool], None] | None = None

    # users and sessions

    def presence(self, user_key: str) -> UserPresence | None:
        return self._users.get(user_key)

    def attach(self, session: Session, name: str, ignores: frozenset[str]) -> UserPresence:
        key = name_key(name)
        p = self._users.get(key)
        if p is None:
            p = self._users[key] = UserPresence(name, ignores)
            for channel in self._joined.get(session, ()):  # counted before it had a name
                self._sorted.pop(channel, None)
        if session not in p.sessions:
            was = p.online
            p.sessions.append(session)
            self._users_online += p.online - was
        if session.ignores is not p.ignores:
            session.ignores = p.ignores
            for channel in self._joined.get(session, ()):
                self._fanout.pop(channel, None)
        return p

    def set_ignores(self, user_key: str, ignores: frozenset[str]) -> None:
        """A user here now ignores these: their sessions get the new set (sets are shared and
        never changed in place, so the fan-out built from the old one is rebuilt)."""
        p = self._users.get(user_key)
        if p is None:
            return
        p.ignores = ignores
        for session in p.sessions:
            session.ignores = ignores
            for channel in self._joined.get(session, ()):
                self._fanout.pop(channel, None)

    def detach(self, session: Session) -> list[str]:
        """Forget a session everywhere. Returns the channels that lost their last listener;
        costs O(the session's own channels), whatever else is on the node."""
        emptied = [c for c in tuple(self._joined.get(session, ())) if self.exit(session, c)]
        self._joined.pop(session, None)
        p = self._users.get(session.user_key)
        departed = self.departed(session)
        if departed:
            self._departed.discard(session)
        if p is not None:
            if session in p.sessions:
                was = p.online
                p.sessions.remove(session)
                p.departed -= departed
                self._users_online += p.online - was
            if not p.sessions:
                del self._users[session.user_key]
        return emptied

    def depart(self, session: Session) -> None:
        """The session's client is gone (QUIT, closed) and its logout waits its turn behind
        others leaving (frontends/doors.py): from now on it counts as online nowhere (who is
        in a room, who is on the node), though it listens until `detach`. O(its channels)."""
        if not session.user_key or session in self._departed:
            return
        p = self._users.get(session.user_key)
        if p is None or session not in p.sessions:
            return
        self._departed.add(session)
        was = p.online
        p.departed += 1
        self._users_online += p.online - was
        for channel in self._joined.get(session, ()):
            if not is_inbox(channel):
                self._uncount(channel, session.user_key)

    def departed(self, session: Session) -> bool:
        return bool(self._departed) and session in self._departed

    def sessions_of(self, user_key: str) -> list[Session]:
        p = self._users.get(user_key)
        return list(p.sessions) if p else []

    def users(self) -> Iterator[UserPresence]:
        return iter(list(self._users.values()))

    def users_online(self) -> int:
        """How many users have a session here whose client is still there (IRC's LUSERS),
        counted as they come and go: asked at every IRC login, it walked every user."""
        return self._users_online

    def rename(self, user_key: str, name: str) -> None:
        """The user is shown as `name` from now on (their name in other letters' case)."""
        p = self._users.get(user_key)
        if p is None:
            return
        p.name = name
        for session in p.sessions:
            for channel in self._joined.get(session, ()):
                self._sorted.pop(channel, None)

    # channels

    def enter(self, session: Session, channel: str, hold: bool = False) -> bool:
        """Listen to a channel; with hold=True live messages wait for `release`. True if the
        channel had no local listener before."""
        listeners = self._channels.get(channel)
        first = listeners is None
        if listeners is None:
            listeners = self._channels[channel] = {}
        if session not in listeners:
            mine = self._joined.get(session)
            if mine is None:
                self._joined[session] = [channel]
            elif channel not in mine:
                mine.append(channel)
            if session.user_key and not is_inbox(channel) and not self.departed(session):
                users = self._online.setdefault(channel, {})
                n = users[session.user_key] = users.get(session.user_key, 0) + 1
                if n == 1:
                    self._came(channel, session.user_key)
        listeners[session] = Backlog() if hold else None
        self._fanout.pop(channel, None)
        return first

    def release(self, session: Session, channel: str, after_id: int | None) -> None:
        """Deliver what was held back (ids after `after_id`, the last history message shown),
        then go live. Filtered again by the session's ignores as they are now (`still_heard`)."""
        listeners = self._channels.get(channel)
        backlog = listeners.get(session) if listeners is not None else None
        if listeners is None or backlog is None or backlog.held is None:
            return
        held, backlog.held = backlog.held, None
        if after_id is None:
            listeners[session] = None
            self._fanout.pop(channel, None)
        else:
            backlog.shown_up_to = after_id
            if after_id > self._newest.get(channel, 0):
                self._newest[channel] = after_id
        past = held if after_id is None else [d for d in held if d.message.id > after_id]
        if past:
            listeners[session] = None
            self._fanout.pop(channel, None)
        for d in still_heard(past, session.ignores):  # an ignore may have come meanwhile
            session.deliver(d)

    def exit(self, session: Session, channel: str) -> bool:
        """Stop listening. True if the channel has no local listener left."""
        listeners = self._channels.get(channel)
        if listeners is None or session not in listeners:
            return False
        del listeners[session]
        self._fanout.pop(channel, None)
        mine = self._joined.get(session)
        if mine is not None and channel in mine:
            mine.remove(channel)
            if not mine:  # a long poll's listener exits so, never detached: nothing kept
                del self._joined[session]
        if session.user_key and not is_inbox(channel) and not self.departed(session):
            self._uncount(channel, session.user_key)
        if not listeners:
            del self._channels[channel]
            self._newest.pop(channel, None)
            self._online.pop(channel, None)
            self._sorted.pop(channel, None)
            return True
        return False

    def _uncount(self, channel: str, user_key: str) -> None:
        users = self._online.get(channel)
        if users is None or user_key not in users:
            return
        if users[user_key] <= 1:
            del users[user_key]
            self._went(channel, user_key)
        else:
            users[user_key] -= 1

    def _came(self, channel: str, user_key: str) -> None:
        """The user's first session here entered the room."""
        names = self._sorted.get(channel)
        p = self._users.get(user_key)
        if names is not None and p is not None:  # (with no name yet, `attach` drops it)
            insort(names, p.name, key=str.lower)
        if self.on_online is not None:
            self.on_online(channel, user_key, True)

    def _went(self, channel: str, user_key: str) -> None:
        """The user's last session here left the room, or its client went: the sorted names
        are dropped, not cut (10,000 leaving at once would move the list 10,000 times)."""
        self._sorted.pop(channel, None)
        if self.on_online is not None:
            self.on_online(channel, user_key, False)

    def is_listening(self, session: Session, channel: str) -> bool:
        listeners = self._channels.get(channel)
        return listeners is not None and session in listeners

    def channels_of(self, session: Session) -> list[str]:
        return list(self._joined.get(session, ()))

    def listener_count(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))

    def listeners(self, channel: str) -> list[Session]:
        return list(self._channels.get(channel, ()))

    def online(self, channel: str) -> list[str]:
        """Display names of users with a session listening to this channel here (departed
        ones not counted), sorted by `str.lower`: sorted once, then kept in step."""
        names = self._sorted.get(channel)
        if names is None:
            keys = self._online.get(channel)
            if not keys:
                return []
            users = self._users
            names = sorted((users[k].name for k in keys if k in users), key=str.lower)
            self._sorted[channel] = names
        return names.copy()

    def user_sessions_in(self, channel: str, user_key: str) -> int:
        return self._online.get(channel, {}).get(user_key, 0)

    def online_count(self, channel: str) -> int:
        return len(self._online.get(channel, ()))

    def notify(
        self,
        channel: str,
        text: str,
        skip: Session | None = None,
        about: Names = (),
        late: Container[Session] = (),
    ) -> None:
        """A notice to every listener but `skip` and those in `late`, and but those who
        ignore a user it names."""
        for s in list(self._channels.get(channel, ())):
            if s is not skip and (not about or s.ignores.isdisjoint(about)) and s not in late:
                s.notify(text, channel, about)

    # the hot path

    def _fanout_of(self, channel: str, listeners: dict[Session, Backlog | None]) -> _Fanout:
        rest = []
        waiting = []
        fans: dict[Fan, list[object]] = {}
        for s, backlog in listeners.items():
            if backlog is not None:
                waiting.append(s)
                continue
            entry = (s.ignores, s.deliver, s)
            fan = None if s.ignores else getattr(s, "fan", None)
            if fan is None:
                rest.append(entry)
            else:
                fans.setdefault(fan[0], []).append(fan[1])
        grouped = tuple((f, tuple(targets)) for f, targets in fans.items())
        fanout = _Fanout(tuple(waiting), grouped, tuple(rest))
        self._fanout[channel] = fanout
        return fanout

    def dispatch(self, message: Message) -> int:
        """Hand a committed message to every local listener; the number of deliveries."""
        channel = message.channel
        listeners = self._channels.get(channel)
        if not listeners:
            return 0
        waiting, fans, rest = self._fanout.get(channel) or self._fanout_of(channel, listeners)
        if message.id > self._newest.get(channel, 0):
            self._newest[channel] = message.id
        d = Delivery(message, self.tz)
        sender = message.sender_key
        skipped = 0
        n = len(rest)
        for door, targets in fans:  # one call per door for those who ignore no one
            door.fan(targets, d)
            n += len(targets)
        for ignores, deliver, _ in rest:
            if sender in ignores:
                skipped += 1
            else:
                deliver(d)
        n -= skipped
        if waiting:
            n += self._offer(channel, listeners, waiting, d)
        self.delivered += n
        return n

    def dispatch_run(self, messages: list[Message]) -> int:
        """`dispatch` of consecutive messages of one channel, committed together: the
        sessions that ignore no one and offer `fan` get it in one call per door
        (`Fan.fan_run`); another with a `deliver_all` (telnet, IRC) gets the whole run in one
        call, sharing one encoding of it with every other such session, unless it ignores
        one of the senders. Returns the number of deliveries."""
        channel = messages[0].channel
        listeners = self._channels.get(channel)
        if not listeners:
            return 0
        waiting, fans, rest = self._fanout.get(channel) or self._fanout_of(channel, listeners)
        last = messages[-1].id
        if last > self._newest.get(channel, 0):
            self._newest[channel] = last
        run = Run(messages, self.tz)
        senders = run.senders
        k = len(messages)
        n = 0
        for door, targets in fans:  # a session call per run was ~1/3 of the IRC door's CPU
            door.fan_run(targets, run)
            n += len(targets) * k
        for ignores, deliver, s in rest:
            deliver_all = getattr(s, "deliver_all", None)
            if deliver_all is not None and (not ignores or senders.isdisjoint(ignores)):
                deliver_all(run)
                n += k
                continue
            for d in run.deliveries:
                if d.message.sender_key not in ignores:
                    deliver(d)
                    n += 1
        if waiting:
            for d in run.deliveries:
                n += self._offer(channel, listeners, waiting, d)
        self.delivered += n
        return n

    def _offer(
        self,
        channel: str,
        listeners: dict[Session, Backlog | None],
        waiting: tuple[Session, ...],
        d: Delivery,
    ) -> int:
        """A message to the sessions being shown history: held, dropped as shown already, or
        delivered once past what the history showed (then they are live)."""
        message = d.message
        n = 0
        for s in waiting:
            if message.sender_key in s.ignores or s not in listeners:
                continue
            backlog = listeners[s]
            if backlog is None:  # went live earlier in this run
                s.deliver(d)
                n += 1
            elif backlog.held is not None:
                backlog.held.append(d)
            elif message.id > backlog.shown_up_to:  # the first message past the history shown
                listeners[s] = None
                self._fanout.pop(channel, None)
                s.deliver(d)
                n += 1
        return n
