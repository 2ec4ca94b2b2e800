"""The IRC door's one call for a room message to many of its sessions (`Session.fan`, see
core/delivery.py): the hub hands a message to every IRC listener of a room who ignores no
one in a single `fan`, instead of a `deliver` per session, each then a `write`. Sessions
are grouped by what their lines depend on (enabled caps and the room's name), each group's
lines are rendered once, and the groups go to the door's FlushQueue as one noted message
(`FlushQueue.fan_lines`): flushed with one loop, no Python call or queue entry per writer,
as telnet's `fan` (bench/JOURNAL.md, branch `ircfan`).

A session whose output `deliver` decides on its own takes `deliver`, as before: the
sender's (echo-message, own echoes due), one joining a room (held until its NAMES), one
not in the room or with nothing to write to (closed ones get nothing)."""

from __future__ import annotations

from collections.abc import Sequence

from torbit.core.delivery import Delivery
from torbit.frontends.flow import FlushQueue, TransportWriter
from torbit.frontends.irc.output import SessionOutput
from torbit.frontends.irc.render import LineCache, LineKey


def fan(
    lines: LineCache, flushes: FlushQueue, sessions: Sequence[SessionOutput], delivery: Delivery
) -> None:
    """`deliver(delivery)` to each of `sessions` (all of one door, none ignoring anyone), in
    one call; the same bytes, in the same order per client, as `deliver` to each."""
    message = delivery.message
    channel = message.channel
    sender = message.sender_key
    groups: dict[LineKey, list[TransportWriter]] = {}
    first: dict[LineKey, SessionOutput] = {}  # who renders each group's lines
    odd: list[SessionOutput] = []
    for s in sessions:
        if s.closed:  # gone, its departure queued: nothing to render
            continue
        w = s._writer
        room = s.rooms.get(channel)
        if w is None or room is None or s._joining is not None or s.user_key == sender:
            odd.append(s)
            continue
        key = (s.caps.enabled, room.name)
        writers = groups.get(key)
        if writers is None:
            groups[key] = [w]
            first[key] = s
        else:
            writers.append(w)
    # before the rest is noted (a write after it would spread it), into a queue that held
    # nothing for the others, if it held nothing before
    apart = not flushes.dirty and flushes.fanned is None
    for s in odd:
        s.deliver(delivery)
    if not groups:
        return
    known = lines.lines if lines.delivery is delivery else lines.start(delivery)
    out: list[tuple[bytes, Sequence[TransportWriter]]] = []
    for key, writers in groups.items():
        data = known.get(key)
        if data is None:
            s = first[key]
            target = "#" + key[1]
            data = known[key] = s._lines(message, s._variant(message, target), "")
        out.append((data, writers))
    flushes.fan_lines(out, apart=apart)
