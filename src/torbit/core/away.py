"""The away state: a user marks themselves away with a message, or back, from any door
(telnet /away, IRC AWAY), and every door on every node shows it (WHOIS, WHO, USERHOST, 301,
telnet /who, the web page's member list) and tells it as it happens (IRC away-notify, the
WebSocket's `away` event, a telnet notice line).

A change is an `AwayChanged` node event: applied here at once and on every other node when
it arrives through the message log. Each node sets it on the user's sessions there (a user
on two nodes is away on both) and tells its sessions that share a room with the user, once
each, but not those who ignore the user. Like join and leave notices, rooms of more than
`presence_notices_max` listeners are not told (there, it would be most of the traffic).
The user's own other sessions, on every node, are told too ("you are marked away: ...",
an IRC client 306/305), all but the one that set it (which has its own reply).

The state is presence, not an account setting: it goes with the user's last session. It
is kept in node memory, never stored; a session that logs in while the user has another
one takes the state it has, on this node from the user's sessions here, on a new node from
what the other nodes' presence details say of the user (`Subscriptions.attach`). A login
that comes before those details (a node in its first moments, or a user who logged in on
another node a moment before) takes the state from the first details that come: the user's
sessions and the rooms here are told then, as of any change (`_details`). Once the
user has no session left anywhere (logged out, or their node restarted), they are back.
A user online only on another node (an HTTP client whose WebSocket is elsewhere) can set it
from here; a user with no session anywhere cannot (409: nobody would see it).

The message is cleaned like any text shown to others (core/text.py) and cut to AWAY_MAX
bytes of UTF-8 (IRC's AWAYLEN), at a character boundary. Changes are rate limited per user
(`limits.away_rate`): past the limit a change is refused, so an away toggled in a loop
floods no room and no node. Setting the state the user is already in is no change: nothing
is sent, nothing is charged.

A change of how the doors show a user (an IRC SETNAME: `details_changed`) reaches the same
sessions as an away change, and is charged to the same bucket. It is a `DetailsChanged`
node event too (`publish_details`), as is a change of the letters' case of a guest's name
(IRC NICK alice -> Alice): every other node updates what it knows of the user (WHOIS, WHO,
member lists) and hands the change to its doors (`on_details`), which tell their clients
sharing a room with the user, as the node where it changed told its own."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from torbit.core.delivery import Notice, NoticeKind, Session
from torbit.core.events import AwayChanged, DetailsChanged, NodeEvents, PresenceDetails
from torbit.core.limits import RateLimiter
from torbit.core.names import is_inbox, name_key
from torbit.core.presence_details import AWAY_MAX, Details
from torbit.core.subscriptions import Subscriptions
from torbit.core.text import clean_cut
from torbit.errors import Conflict, InvalidInput


def clean_away(text: str | None) -> str | None:
    """The away message as others see it: cleaned and cut to AWAY_MAX bytes; None (back) for
    no text, or a text with nothing to show."""
    if not text or not text.strip():
        return None
    try:
        return clean_cut(text, AWAY_MAX)
    except InvalidInput:  # nothing left once cleaned
        return None


class Away:
    """Marks users away or back, and tells the sessions that share a room with them."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        events: NodeEvents,
        limiter: RateLimiter | None = None,
        notices_max: int = 100,
    ) -> None:
        self._subs = subscriptions
        self._events = events
        self._limiter = limiter or RateLimiter(0, 0)
        self._notices_max = notices_max
        self._on_details: list[Callable[[DetailsChanged], None]] = []
        events.on(AwayChanged, self._apply)
        events.on(PresenceDetails, self._details)
        events.on(DetailsChanged, self._changed_elsewhere)

    async def set(self, user_key: str, text: str | None, by: Session | None = None) -> str | None:
        """Mark the user away with `text`, or back (None, empty or blank), from their session
        `by` (None: from HTTP, without a session). Returns the message as others see it
        (None: back). Raises RateLimited past the user's rate of changes, Conflict if the
        user has no session here nor in a room on another node."""
        away = clean_away(text)
        subs = self._subs
        p = subs.presence(user_key)
        if p is not None and p.sessions:
            name: str | None = p.name
            channels = {c for s in subs.sessions_of(user_key) for c in subs.channels_of(s)}
            rooms = tuple(sorted(c for c in channels if not is_inbox(c)))
        else:  # online on another node only, if at all
            name = subs.online_name(user_key)
            rooms = tuple(subs.rooms_elsewhere(user_key))
        if name is None:
            raise Conflict(  # a token (POST /api/v1/sessions) is no connection
                "you are not online: away is shown only while you are connected "
                "(telnet, IRC or a WebSocket)"
            )
        if away == subs.away_of(user_key):
            return away
        self._limiter.check(user_key, "away changes")
        changed = AwayChanged(user_key, name, away or "", rooms, self._events.origin)
        try:
            await self._events.publish(changed)
        finally:  # applied here at once, whether or not the log took it
            self._tell_own(changed, by)
        return away

    def charge_change(self, user_key: str, what: str) -> None:
        """Charge one change told to every room of the user's (a guest's NICK) to the rate
        of away changes; RateLimited past it, naming `what`."""
        self._limiter.check(user_key, what)

    def details_changed(self, user_key: str) -> list[Session]:
        """A user with sessions here changed how the doors show them (an IRC SETNAME). It
        is told as an away change is, and so charged to the same rate of changes (Raises
        RateLimited past `limits.away_rate`, as `set`). The sessions here to tell of it
        are returned: those an away change tells (sharing a room of at most
        `presence_notices_max` listeners, not ignoring the user), the user's own left out.
        The other nodes are told with `publish_details`."""
        self._limiter.check(user_key, "changes of your details")
        subs = self._subs
        subs.details_changed(user_key)
        sessions = subs.sessions_of(user_key)
        rooms = {c for s in sessions for c in subs.channels_of(s) if not is_inbox(c)}
        return list(subs.sharing(user_key, rooms, self._notices_max))

    async def publish_details(
        self,
        user_key: str,
        name: str,
        *,
        old_name: str = "",
        realname: str = "",
        rooms: Iterable[str] | None = None,
    ) -> None:
        """Tell the other nodes that the user, with sessions here, is shown as `name` (from
        `old_name`: the same name in other letters' case, or a guest's former name) or has
        the real name `realname` (an IRC SETNAME), once this node has applied it and told
        its own sessions; a guest's new name before its sessions here move to it (`rooms`:
        those they listen to), so the event comes before the presence beat that moves
        them (core/guests.py)."""
        subs = self._subs
        if rooms is None:
            rooms = {c for s in subs.sessions_of(user_key) for c in subs.channels_of(s)}
        event = DetailsChanged(
            user_key,
            name,
            old_name,
            realname,
            tuple(sorted({c for c in rooms if not is_inbox(c)})),
            self._events.origin,
        )
        if old_name and name_key(old_name) != user_key:
            subs.told_renamed(name_key(old_name), user_key)
        await self._events.publish(event)

    def on_details(self, handler: Callable[[DetailsChanged], None]) -> None:
        """A door tells its sessions of another node's `DetailsChanged` (after it is applied
        here: `sharing_details` says to whom)."""
        self._on_details.append(handler)

    def sharing_details(self, event: DetailsChanged, bounded: bool = True) -> list[Session]:
        """The sessions here to tell of another node's `DetailsChanged`: those sharing one of
        its rooms (or a room the user is in here) with the user, not ignoring the user; with
        `bounded`, as an away change or a NICK (rooms of at most `presence_notices_max`
        listeners)."""
        subs = self._subs
        rooms = set(event.rooms)
        for s in subs.sessions_of(event.user):
            rooms.update(c for c in subs.channels_of(s) if not is_inbox(c))
        limit = self._notices_max if bounded else sys.maxsize
        return list(subs.sharing(event.user, rooms, limit))

    def _changed_elsewhere(self, event: DetailsChanged) -> None:
        if event.node == self._events.origin:
            return  # applied and told by whoever changed it
        subs = self._subs
        if not subs.changed_elsewhere(
            event.node, event.user, event.name, event.realname, event.old_name
        ):
            return  # a new name its node's beat told first, as a leave and a join
        for handler in self._on_details:
            handler(event)

    def _tell_own(self, event: AwayChanged, skip: Session | None = None) -> None:
        """The user's own sessions here, but `skip` (the one that set it), learn the change."""
        said = f"you are marked away: {event.away}" if event.away else "you are back"
        notice = Notice(said, NoticeKind.AWAY, user=event.name, detail=event.away)
        for s in self._subs.sessions_of(event.user):
            if s is not skip and not self._subs.departed(s):
                s.notify(notice)

    def _apply(self, event: AwayChanged) -> None:
        subs = self._subs
        subs.set_away(event.user, event.away or None)  # its sessions here, if it has some
        if event.node != self._events.origin:
            subs.set_away_elsewhere(event.node, event.user, event.away)
            self._tell_own(event)
        elif not subs.sessions_of(event.user):  # set from here for a user on other nodes
            subs.set_away_elsewhere(None, event.user, event.away)
        rooms = set(event.rooms)
        for s in subs.sessions_of(event.user):  # the rooms it has here, if it has some
            rooms.update(c for c in subs.channels_of(s) if not is_inbox(c))
        said = f"is away: {event.away}" if event.away else "is back"
        text = f"{event.name} {said}"
        notice = Notice(text, NoticeKind.AWAY, user=event.name, detail=event.away)
        told: set[Session] = set()
        subs.notify_sharing(event.user, rooms, notice, self._notices_max, told)
        subs.notify_watchers(event.user, notice, told)  # MONITOR's (extended-monitor)

    def _details(self, event: PresenceDetails) -> None:
        """Another node's details of its users: a user who logged in here before any came
        takes the away state they say, as if it had just changed (`unsure_away`)."""
        if event.node == self._events.origin:
            return
        subs = self._subs
        for entry in event.users:
            parsed = Details.of_entry(entry)
            if parsed is None or not subs.unsure_away(parsed[0]):
                continue
            key, details = parsed
            p = subs.presence(key)
            if p is not None and (p.away or "") != details.away:
                self._apply(AwayChanged(key, p.name, details.away, (), event.node))
