"""A room's roles across a `postgresql + kafka` cluster: each node keeps a copy of a room's
admins and voiced members for the NAMES a JOIN answers with (core/roomroles.py), so a MODE
made on node a must reach node b's copy through the node events. Once b's client has been
told the MODE (the same event), b's next NAMES shows it, and reads the store once for it."""

from __future__ import annotations

import pytest

from tests.helpers.irc import RawIrc, joined
from tests.scale.clients import in_channel
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

GUESTS = {"guests": True}


async def _names(raw: RawIrc, nick: str, channel: str) -> list[str]:
    raw.send(f"NAMES {channel}")
    start = len(raw.lines)
    await raw.expect(f" 366 {nick} {channel} ")
    return [
        e
        for line in raw.lines[start:-1]
        if f" 353 {nick} " in line
        for e in line.split(f" {channel} ", 1)[1].lstrip(":").split()
    ]


async def test_a_mode_on_one_node_shows_in_the_next_names_on_the_other(
    make_node: NodeFactory,
) -> None:
    a = await make_node("a", irc=GUESTS)
    b = await make_node("b", irc=GUESTS)
    chief = await joined(a, "chief")
    bob = await joined(b, "bob")
    await in_channel("#cr", chief, bob, "bob")  # a knows b's bob (presence)
    assert await _names(bob, "bob", "#cr") == ["bob", "@chief"]  # b's copy made
    assert b.core is not None
    roles_b = b.core.membership.room_roles
    for mode, shown in (
        ("+v bob", ["+bob", "@chief"]),
        ("+o bob", ["@bob", "@chief"]),
        ("-o bob", ["+bob", "@chief"]),
        ("-v bob", ["bob", "@chief"]),
    ):
        reads = roles_b.reads
        chief.send(f"MODE #cr {mode}")
        await bob.expect(f" MODE #cr {mode}", timeout=30)
        assert await _names(bob, "bob", "#cr") == shown, mode
        assert await _names(bob, "bob", "#cr") == shown, mode
        assert roles_b.reads == reads + 1, mode  # dropped by the event, read once again
