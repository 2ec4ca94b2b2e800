"""The IRC door's one call for a room message to many of its sessions (`Session.fan`, see
core/delivery.py): the hub hands a message to every IRC listener of a room who ignores no
one in a single `fan` (a run of messages committed together: `fan_run`), instead of a
`deliver` (`deliver_all`) per session, each then a `write`. Sessions
are grouped by what their lines depend on (enabled caps and the room's name), each group's
lines are rendered once, and the groups go to the door's FlushQueue as one noted message
(`FlushQueue.fan_lines`): flushed with one loop, no Python call or queue entry per writer,
as telnet's `fan` (bench/JOURNAL.md, branch `ircfan`).

The grouping is kept (`Groupings`) from one message to the next while the hub's tuple of
listeners is the same one and nothing a grouping reads has changed: any change to a
session's rooms, caps, nick, joins under way or connection drops them all (`regroup`).
Grouping 1,000 readers anew for each message was ~7 % of the server's CPU in the bench's
steady 1 → 1,000 over IRC (stop 42, bench/JOURNAL.md); now a message costs a copy of its
sender's group without the sender.

A session whose output `deliver` decides on its own takes `deliver` (`deliver_all`), as
before: the sender's (echo-message, own echoes due), one joining a room (held until its
NAMES), one not in the room or with nothing to write to (closed ones get nothing)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar, overload

from torbit.core.delivery import Delivery, Run
from torbit.core.models import Room
from torbit.frontends.flow import FlushQueue, TransportWriter
from torbit.frontends.irc.output import SessionOutput
from torbit.frontends.irc.render import LineCache, LineKey

T = TypeVar("T")
# a grouping's groups without some senders' sessions, and the sessions left to `deliver`
Split = tuple[dict[LineKey, list[TransportWriter]], list[SessionOutput]]
KEPT_SPLITS = 8  # senders' splits a grouping keeps (a room's few talkers of the moment)


class Regrouping(Protocol):
    def regroup(self) -> None:
        """Something a grouping reads has changed (the server's `Groupings.clear`)."""


class JoinedRooms(dict[str, Room]):
    """A session's rooms (`IrcSession.rooms`), by key: every change tells `host` (the
    server), so no kept grouping outlives a join, part, kick or new topic. The server, not
    its bound method, is kept: a bound method was 64 bytes more an idle client."""

    __slots__ = ("_host",)

    def __init__(self, host: Regrouping) -> None:
        super().__init__()
        self._host = host

    def _changed(self) -> None:
        self._host.regroup()

    def __setitem__(self, key: str, room: Room) -> None:
        self._changed()
        super().__setitem__(key, room)

    def __delitem__(self, key: str) -> None:
        self._changed()
        super().__delitem__(key)

    @overload
    def pop(self, key: str, /) -> Room: ...
    @overload
    def pop(self, key: str, default: Room, /) -> Room: ...
    @overload
    def pop(self, key: str, default: T, /) -> Room | T: ...
    def pop(self, key: str, /, *default: object) -> object:
        self._changed()
        return super().pop(key, *default)

    def setdefault(self, key: str, room: Room, /) -> Room:
        self._changed()
        return super().setdefault(key, room)

    def popitem(self) -> tuple[str, Room]:
        self._changed()
        return super().popitem()

    def clear(self) -> None:
        self._changed()
        super().clear()

    def update(self, *args: Iterable[tuple[str, Room]], **rooms: Room) -> None:  # type: ignore[override]
        self._changed()
        super().update(*args, **rooms)

    def __ior__(self, other: Iterable[tuple[str, Room]]) -> JoinedRooms:  # type: ignore[override,misc]
        self._changed()
        super().update(other)
        return self


class Grouping:
    """One room's IRC listeners as the hub handed them (`sessions`, the tuple itself): the
    writers of each group, a session of each to render its lines, those left to `deliver`,
    and each user's session(s) among the groups (a message's sender's are taken out of them;
    a user's one session is kept as itself: 29 bytes a reader, where a list of tuples was
    213, 1.8 MB more for a room of 10,000; tracemalloc, stop 42)."""

    __slots__ = ("by_user", "channel", "first", "groups", "odd", "sessions", "without")

    def __init__(self, sessions: Sequence[SessionOutput], channel: str) -> None:
        self.sessions = sessions
        self.channel = channel
        self.groups: dict[LineKey, list[TransportWriter]] = {}
        self.first: dict[LineKey, SessionOutput] = {}
        self.odd: list[SessionOutput] = []
        self.by_user: dict[str, SessionOutput | list[SessionOutput]] = {}
        # `apart`'s answers, by senders: the groups without their sessions, copied once
        self.without: dict[frozenset[str], Split] = {}
        groups, first, odd, by_user = self.groups, self.first, self.odd, self.by_user
        for s in sessions:
            if s.closed:  # gone, its departure queued: nothing to render
                continue
            w = s._writer
            room = s.rooms.get(channel)
            if w is None or room is None or s._joining is not None:
                odd.append(s)
                continue
            key = (s.caps.enabled, room.name)
            writers = groups.get(key)
            if writers is None:
                groups[key] = [w]
                first[key] = s
            else:
                writers.append(w)
            own = by_user.get(s.user_key)
            if own is None:
                by_user[s.user_key] = s
            elif isinstance(own, list):
                own.append(s)
            else:
                by_user[s.user_key] = [own, s]

    def apart(self, senders: frozenset[str]) -> Split:
        """The groups without the sessions of `senders` and the sessions left to `deliver`
        (the odd ones and theirs), kept for the next message from the same senders (a
        steady talker's: a copy of a 1,000 readers' group was ~37 µs a message, timeit)."""
        split = self.without.get(senders)
        if split is None:
            if len(self.without) >= KEPT_SPLITS:
                self.without.clear()
            split = self.without[senders] = _apart(self, senders, self.channel)
        return split


class Groupings:
    """The door's kept groupings, by channel: one per room messages went to since the last
    change. Never changed once made: the flush reads a group's list after `fan` returns."""

    __slots__ = ("_by_channel",)

    def __init__(self) -> None:
        self._by_channel: dict[str, Grouping] = {}

    def of(self, sessions: Sequence[SessionOutput], channel: str) -> Grouping:
        g = self._by_channel.get(channel)
        if g is None or g.sessions is not sessions:
            g = self._by_channel[channel] = Grouping(sessions, channel)
        return g

    def clear(self) -> None:
        """Something a grouping reads has changed: every one is made anew when next used."""
        self._by_channel.clear()


def _apart(g: Grouping, senders: Iterable[str], channel: str) -> Split:
    """The grouping's groups without the sessions of `senders` (their `deliver` decides:
    echo-message), and the sessions left to `deliver`: the grouping's odd ones and those."""
    groups = g.groups
    odd = g.odd
    for sender in senders:
        own = g.by_user.get(sender)
        if own is None:
            continue
        mine = own if isinstance(own, list) else [own]
        if groups is g.groups:
            groups = groups.copy()
        for s in mine:  # each where the grouping put it: nothing it read has changed since
            room = s.rooms.get(channel)
            key = (s.caps.enabled, room.name if room is not None else "")
            writers = groups.get(key)
            if writers is None:
                continue
            w = s._writer
            rest = [x for x in writers if x is not w]
            if rest:
                groups[key] = rest
            else:
                del groups[key]
        odd = [*odd, *mine]
    return groups, odd


def fan(
    lines: LineCache,
    flushes: FlushQueue,
    groupings: Groupings,
    sessions: Sequence[SessionOutput],
    delivery: Delivery,
) -> None:
    """`deliver(delivery)` to each of `sessions` (all of one door, none ignoring anyone), in
    one call; the same bytes, in the same order per client, as `deliver` to each."""
    message = delivery.message
    g = groupings.of(sessions, message.channel)
    groups, odd = g.apart(frozenset((message.sender_key,)))
    # before the rest is noted (a write after it would spread it), into a queue that held
    # nothing for the others, if it held nothing before
    apart = not flushes.dirty and flushes.fanned is None
    for s in odd:
        s.deliver(delivery)
    if not groups:
        return
    known = lines.lines if lines.delivery is delivery else lines.start(delivery)

    def render(s: SessionOutput, target: str) -> bytes:
        return s._lines(message, s._variant(message, target), "")

    _note(flushes, g.first, groups, known, render, apart)


def fan_run(
    lines: LineCache,
    flushes: FlushQueue,
    groupings: Groupings,
    sessions: Sequence[SessionOutput],
    run: Run,
) -> None:
    """`deliver_all(run)` to each of `sessions` (as `fan`, none ignoring anyone): each
    group's lines of the run rendered once, noted once. A session call per reader per run
    was ~1/3 of the server's CPU in the bench's steady 1 -> 1,000 over IRC, whose sender's
    messages mostly come in runs (bench/JOURNAL.md, stop 61)."""
    messages = run.messages
    channel = messages[0].channel
    g = groupings.of(sessions, channel)
    groups, odd = g.apart(run.senders)
    apart = not flushes.dirty and flushes.fanned is None  # as in `fan`
    for s in odd:
        s.deliver_all(run)
    if not groups:
        return
    known = lines.run_lines if lines.run is run else lines.start_run(run)

    def render(s: SessionOutput, target: str) -> bytes:
        return b"".join(s._lines(m, s._variant(m, target), "") for m in messages)

    _note(flushes, g.first, groups, known, render, apart)


def _note(
    flushes: FlushQueue,
    first: dict[LineKey, SessionOutput],
    groups: dict[LineKey, list[TransportWriter]],
    known: dict[LineKey, bytes],
    render: Callable[[SessionOutput, str], bytes],
    apart: bool,
) -> None:
    """Each group's lines, rendered once (`known` keeps them for the door's other calls
    with the same message or run) by the group's first session, as any of the group would
    render them (the lines depend on the key), noted in one `fan_lines`."""
    out: list[tuple[bytes, Sequence[TransportWriter]]] = []
    for key, writers in groups.items():
        data = known.get(key)
        if data is None:
            data = known[key] = render(first[key], "#" + key[1])
        out.append((data, writers))
    flushes.fan_lines(out, apart=apart)
