"""Cluster-wide presence: who is online in which room, on this node and on every other one.

Each node tells the others what changed on it in a heartbeat (a `PresenceBeat` node event)
every few seconds, and soon after a change (core/heartbeat.py): the (room, user) pairs that
came online and went offline on it since the previous beat, never the full list. A user
online in no room is in the table too: every online user is in the pseudo-room ONLINE ("@",
which no room name can be; one more pair a user, not a dict of its own). A full
snapshot is sent only when someone needs one: at the node's start, when another node asks
(it started, missed a beat, or forgot this node: answered at once), after a beat failed to
leave, or when the changes outgrow the snapshot. Snapshots and big
deltas are cut into chunks of bounded size. Every beat carries the node's expiry: a node
not heard from for that long (killed, cut off) is forgotten with all its users. Receivers
time everything on their own clock, so clocks need not agree.

Besides names, the doors show a user's client details (IRC's WHOIS and WHO: ident, real
name, the door, the away message): a node sends those of its users in `PresenceDetails`
events after the beats that brought them (all of them after a snapshot) and when one
changes (`touch`: away set or cleared), each field cut to a bound, so that another node
answers about them as about its own users (the details and their bounds:
presence_details.py).

This module is the table only, without I/O: the clock is injected, and core/heartbeat.py
sends and receives the beats on the app's timer.
"""

from __future__ import annotations

import dataclasses
import time
from bisect import insort
from collections.abc import Callable
from dataclasses import dataclass

from torbit.core.events import PresenceBeat, PresenceDetails
from torbit.core.names import is_inbox, name_key
from torbit.core.presence_details import AWAY_MAX, REALNAME_MAX, Details

Entry = tuple[str, str]  # (room key, user key)
ONLINE = "@"  # the pseudo-room of every user online on a node, in a room or not (an inbox)
CHUNK = 500  # entries per beat: a beat stays far below the broker's 1 MiB record limit


@dataclass(frozen=True, slots=True)
class Change:
    """A user came online in a room (anywhere in the cluster), or went offline everywhere."""

    room: str
    user: str  # key
    name: str
    online: bool


class _Seen:
    __slots__ = ("name", "nodes")

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes = 1


class _Node:
    """One node's users by room, and what is known of its beats."""

    __slots__ = ("asked", "details", "expires", "rooms", "seq", "stale", "users")

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, str]] = {}  # room -> user key -> name
        self.users: dict[str, int] = {}  # user key -> rooms they are online in there
        self.details: dict[str, Details] = {}  # of its users (other nodes only)
        self.seq = 0
        self.expires = 0.0
        self.asked: float | None = None  # when a snapshot of it was last asked for
        self.stale: set[Entry] | None = None  # during a snapshot: entries it has not repeated


class PresenceTable:
    """Every node's (room, user) pairs, merged: counting a room's users online is O(1)."""

    def __init__(
        self,
        node: str,
        *,
        expiry: float,
        clock: Callable[[], float] = time.monotonic,
        chunk: int = CHUNK,
    ) -> None:
        self.node = node
        self.expiry = expiry
        self._clock = clock
        self._chunk = max(1, chunk)
        self._local = _Node()
        self._local_count = 0
        self._nodes: dict[str, _Node] = {}
        self._online: dict[str, dict[str, _Seen]] = {}  # room -> user key -> who, on how many
        # room -> its online names sorted, once asked for: a newcomer put in place, a leave
        # or a rename drops it (IRC's NAMES asks at every JOIN: a sort of the room each)
        self._sorted: dict[str, list[str]] = {}
        self._rooms_of: dict[str, dict[str, str]] = {}  # user key -> room -> name there
        # entries changed since the last beat -> whether the others last heard them online
        self._pending: dict[Entry, bool] = {}
        self._full = True  # the next beat is a full snapshot
        self._seq = 0
        # this node's users' details, asked for when they are sent (set by Subscriptions)
        self.describe: Callable[[str], Details | None] | None = None
        self._describe: set[str] = set()  # users whose details the next beat sends
        self._describe_all = True  # after a snapshot: everyone's
        # called when there is something to send: core/heartbeat.py beats soon, not a
        # whole interval later
        self.changed: Callable[[], None] | None = None

    # questions

    def now(self) -> float:
        """The table's clock."""
        return self._clock()

    def count(self, room: str) -> int:
        return len(self._online.get(room, ()))

    def names(self, room: str) -> list[str]:
        """Display names of the users online in the room on any node, sorted."""
        names = self._sorted.get(room)
        if names is None:
            online = self._online.get(room)
            if not online:
                return []
            names = self._sorted[room] = sorted((s.name for s in online.values()), key=str.lower)
        return names.copy()

    def elsewhere(self, room: str, user_key: str, besides: str = "") -> bool:
        """True if another node (not `besides` either) has the user online in the room."""
        return any(
            user_key in n.rooms.get(room, ()) for k, n in self._nodes.items() if k != besides
        )

    def user(self, user_key: str) -> tuple[str, list[str]] | None:
        """The user's display name and the rooms they are online in on any node, or None
        if offline everywhere. A node enters each of its online users in ONLINE too
        (`Subscriptions`), so a user in no room is found, with no rooms."""
        rooms = self._rooms_of.get(user_key)
        if not rooms:
            return None
        return next(iter(rooms.values())), sorted(r for r in rooms if not is_inbox(r))

    def details(self, user_key: str) -> Details | None:
        """The client details another node sent of a user online there, if any."""
        for node in self._nodes.values():
            if (d := node.details.get(user_key)) is not None:
                return d
        return None

    def everyone(self) -> list[tuple[str, str]]:
        """(key, name) of every user online in a room on any node."""
        return [(key, next(iter(rooms.values()))) for key, rooms in self._rooms_of.items()]

    def nodes(self) -> list[str]:
        """The other nodes heard from and not expired, sorted."""
        return sorted(self._nodes)

    # this node

    def local(self, room: str, user_key: str, name: str, online: bool) -> Change | None:
        """The user's first session here entered the room (online) or its last one left.
        The change, if it changes the cluster's presence (first or last anywhere)."""
        if online:
            change = self._put(self._local, room, user_key, name)
        else:
            change = self._take(self._local, room, user_key)
        if change is None:
            return None
        if online and self._local.users[user_key] == 1:
            self._describe.add(user_key)  # the others learn their details with them
        self._local_count += 1 if online else -1
        if not self._full:
            entry = (room, user_key)
            was = self._pending.get(entry)
            if was is None:
                self._pending[entry] = not online
            elif was == online:
                del self._pending[entry]  # back to what the others know
            if len(self._pending) > max(self._chunk, self._local_count):
                self.resend()  # a snapshot is now the smaller message
        if self.changed is not None:
            self.changed()
        return change if (self._first(change) if online else self._gone(change)) else None

    def touch(self, user_key: str) -> None:
        """A user's details changed here (away): the next beat sends them again."""
        if user_key in self._local.users:
            self._describe.add(user_key)
            if self.changed is not None:
                self.changed()

    def described(self) -> list[PresenceDetails]:
        """The details to send after `beats`: of the users who came since (or of everyone
        after a snapshot), and of those who changed; none without `describe`."""
        everyone, self._describe_all = self._describe_all, False
        keys = list(self._local.users) if everyone else list(self._describe)
        self._describe.clear()
        if self.describe is None:
            return []
        names = {k: n for users in self._local.rooms.values() for k, n in users.items()}
        entries = []
        for key in keys:
            name = names.get(key)
            if name is not None and (d := self.describe(key)) is not None:
                entries.append(d.entry(name))
        return [
            PresenceDetails(self.node, tuple(entries[i : i + self._chunk]))
            for i in range(0, len(entries), self._chunk)
        ]

    def set_away(self, node: str | None, user_key: str, away: str) -> None:
        """An away change another node told at once (core/away.py), or this node for a user
        of other nodes (node None: every node): what is known of the user there says so
        now, not only after that node's next beat repeats it."""
        nodes = self._nodes.values() if node is None else [self._nodes.get(node)]
        for n in nodes:
            if n is not None and (d := n.details.get(user_key)) is not None:
                n.details[user_key] = dataclasses.replace(d, away=away[:AWAY_MAX])

    def set_realname(self, node: str, user_key: str, realname: str) -> None:
        """A real name another node told at once (an IRC SETNAME there, core/away.py): what
        is known of the user there says so now, not only after that node's next beat."""
        n = self._nodes.get(node)
        if n is not None and (d := n.details.get(user_key)) is not None:
            n.details[user_key] = dataclasses.replace(d, realname=realname[:REALNAME_MAX])

    def recase(self, user_key: str, name: str) -> None:
        """The user (of this node or another) is shown as `name` from now on, their name in
        other letters' case: every room's entry of them, here and as the others told, says so
        (member lists, WHOIS; this node's next snapshot sends it)."""
        for node in (self._local, *self._nodes.values()):
            if user_key in node.users:
                for users in node.rooms.values():
                    if user_key in users:
                        users[user_key] = name
        rooms = self._rooms_of.get(user_key, {})
        for room in rooms:
            rooms[room] = name
            if (seen := self._online.get(room, {}).get(user_key)) is not None:
                seen.name = name
                self._sorted.pop(room, None)

    def told_renamed(self, old: str, new: str) -> None:
        """This node's user `old` is `new` now, and the other nodes are told at once (a
        `DetailsChanged`, sent before this node's own entries change): they move the
        entries of `old` they have from here to `new` (`rename`). What the next beat says
        is set to match: where they had `old`, they now have `new` and not `old`, so only
        what differs from that is sent (a came and a went of `new` between two beats no
        longer cancel out into nothing while they have it)."""
        local, pending = self._local.rooms, self._pending

        def heard(room: str, key: str) -> bool:
            return pending.get((room, key), key in local.get(room, {}))

        def now_heard(room: str, key: str, online: bool) -> None:
            if online == (key in local.get(room, {})):
                pending.pop((room, key), None)
            else:
                pending[(room, key)] = online

        rooms = {room for room, _ in pending} | set(local)
        for room in [r for r in rooms if heard(r, old)]:
            now_heard(room, old, False)
            now_heard(room, new, True)

    def rename(self, node: str, old: str, new: str, name: str) -> bool:
        """Another node's user took another name (an IRC guest's NICK), told at once: their
        entries there move from key `old` to `new`, details and all, so the beats that
        follow (`old` went, `new` came) change nothing. False if that node has no `old` (or
        has `new` already: its beat came first, and told the change as a leave and a join)."""
        n = self._nodes.get(node)
        if n is None or old not in n.users or new in n.users:
            return False
        details = n.details.get(old)
        for room in [room for room, users in n.rooms.items() if old in users]:
            self._take(n, room, old)
            self._put(n, room, new, name)
        if details is not None:
            n.details[new] = details
        return True

    def apply_details(self, event: PresenceDetails) -> None:
        """Another node's details of its users; of users it does not have online, ignored."""
        node = self._nodes.get(event.node)
        if node is None or event.node == self.node:
            return
        for entry in event.users:
            if (parsed := Details.of_entry(entry)) is not None:
                key, details = parsed
                if key in node.users:
                    node.details[key] = details

    def beats(self) -> list[PresenceBeat]:
        """The beats to send now: the changes since the last one (or a full snapshot), at
        least one beat even when nothing changed."""
        if self._full:
            self._full = False
            self._describe_all = True
            self._pending.clear()
            came = [
                f"{room} {name}"
                for room, users in self._local.rooms.items()
                for name in users.values()
            ]
            chunks = [came[i : i + self._chunk] for i in range(0, len(came), self._chunk)] or [[]]
            return [
                self._beat(came=tuple(c), reset=i == 0, more=i < len(chunks) - 1)
                for i, c in enumerate(chunks)
            ]
        entries = list(self._pending.items())
        self._pending.clear()
        out = []
        for i in range(0, max(1, len(entries)), self._chunk):
            part = entries[i : i + self._chunk]
            out.append(
                self._beat(
                    came=tuple(f"{r} {self._local.rooms[r][k]}" for (r, k), was in part if not was),
                    went=tuple(f"{r} {k}" for (r, k), was in part if was),
                )
            )
        return out

    def _beat(
        self,
        came: tuple[str, ...] = (),
        went: tuple[str, ...] = (),
        *,
        reset: bool = False,
        more: bool = False,
        bye: bool = False,
    ) -> PresenceBeat:
        self._seq += 1
        return PresenceBeat(self.node, self._seq, self.expiry, came, went, reset, more, bye)

    def resend(self) -> None:
        """The others may not know this node's state (a beat failed to leave, or one asked):
        the next beat is a full snapshot."""
        self._full = True
        self._pending.clear()

    def goodbye(self) -> PresenceBeat:
        """The beat of a node stopping cleanly: the others drop its users at once."""
        return self._beat(bye=True)

    # other nodes

    def apply(self, beat: PresenceBeat) -> tuple[list[Change], bool]:
        """Another node's beat: the changes it makes to the cluster's presence, and whether
        to ask that node for a snapshot (a beat was missed, or the node is new here)."""
        if beat.node == self.node:
            return [], False
        node = self._nodes.get(beat.node)
        if beat.bye:
            if node is None:
                return [], False
            del self._nodes[beat.node]
            return self._clear(node), False
        now = self._clock()
        ask = False
        if node is None:
            node = self._nodes[beat.node] = _Node()
            ask = not beat.reset
        elif not beat.reset and beat.seq != node.seq + 1:
            ask = True
        if ask and node.asked is not None and now - node.asked < node_expiry(beat, self.expiry):
            ask = False  # asked already; its snapshot is on the way
        if ask:
            node.asked = now
        if beat.reset:
            node.stale = {(r, k) for r, users in node.rooms.items() for k in users}
        changes: list[Change] = []
        for entry in beat.came:
            room, _, name = entry.partition(" ")
            if room and name:
                key = name_key(name)
                if node.stale is not None:
                    node.stale.discard((room, key))
                if (c := self._put(node, room, key, name)) is not None and self._first(c):
                    changes.append(c)
        for entry in beat.went:
            room, _, key = entry.partition(" ")
            if (c := self._take(node, room, key)) is not None and self._gone(c):
                changes.append(c)
        if node.stale is not None and not beat.more:
            for room, key in node.stale:
                if (c := self._take(node, room, key)) is not None and self._gone(c):
                    changes.append(c)
            node.stale = None
        node.seq = beat.seq
        node.expires = now + node_expiry(beat, self.expiry)
        return changes, ask

    def expire(self) -> list[Change]:
        """Forget the nodes not heard from within their expiry, with their users."""
        now = self._clock()
        changes: list[Change] = []
        for node_id in [n for n, node in self._nodes.items() if node.expires <= now]:
            changes += self._clear(self._nodes.pop(node_id))
        return changes

    # the merged table

    def _clear(self, node: _Node) -> list[Change]:
        return [
            c
            for room, users in list(node.rooms.items())
            for key in list(users)
            if (c := self._take(node, room, key)) is not None and self._gone(c)
        ]

    def _put(self, node: _Node, room: str, key: str, name: str) -> Change | None:
        users = node.rooms.setdefault(room, {})
        if key in users:
            return None
        users[key] = name
        node.users[key] = node.users.get(key, 0) + 1
        merged = self._online.setdefault(room, {})
        seen = merged.get(key)
        if seen is None:
            merged[key] = _Seen(name)
            self._rooms_of.setdefault(key, {})[room] = name
            if (names := self._sorted.get(room)) is not None:
                insort(names, name, key=str.lower)
        else:
            seen.nodes += 1
        return Change(room, key, name, True)

    def _take(self, node: _Node, room: str, key: str) -> Change | None:
        users = node.rooms.get(room)
        if users is None or key not in users:
            return None
        name = users.pop(key)
        if not users:
            del node.rooms[room]
        if node.users[key] > 1:
            node.users[key] -= 1
        else:
            del node.users[key]
            node.details.pop(key, None)
        merged = self._online[room]
        seen = merged[key]
        if seen.nodes > 1:
            seen.nodes -= 1
        else:
            del merged[key]
            self._sorted.pop(room, None)
            if not merged:
                del self._online[room]
            rooms = self._rooms_of[key]
            del rooms[room]
            if not rooms:
                del self._rooms_of[key]
        return Change(room, key, name, False)

    def _first(self, c: Change) -> bool:
        seen = self._online.get(c.room, {}).get(c.user)
        return seen is not None and seen.nodes == 1

    def _gone(self, c: Change) -> bool:
        return c.user not in self._online.get(c.room, ())


def node_expiry(beat: PresenceBeat, default: float) -> float:
    return beat.ttl if beat.ttl > 0 else default
