"""A room's roles across a `postgresql + kafka` cluster: each node keeps a copy of a room's
admins and voiced members for the NAMES a JOIN answers with (core/roomroles.py), so a MODE
made on node a must reach node b's copy through the node events. Once b's client has been
told the MODE (the same event), b's next NAMES shows it, and reads the store once for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers.irc import RawIrc
from tests.scale.conftest import NodeFactory
from torbit.app import App

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

GUESTS = {"guests": True}


@pytest.fixture
async def cleanup() -> AsyncIterator[list[RawIrc]]:
    clients: list[RawIrc] = []
    yield clients
    for raw in reversed(clients):
        await raw.close()


async def _client(app: App, nick: str, cleanup: list[RawIrc]) -> RawIrc:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    await raw.expect(" 376 ")
    return raw


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
    make_node: NodeFactory, cleanup: list[RawIrc]
) -> None:
    a = await make_node("a", irc=GUESTS)
    b = await make_node("b", irc=GUESTS)
    chief = await _client(a, "chief", cleanup)
    chief.send("JOIN #cr")
    await chief.expect(" 366 ")
    bob = await _client(b, "bob", cleanup)
    bob.send("JOIN #cr")
    await bob.expect(" 366 ")
    await chief.expect(":bob!", timeout=30)  # a knows b's bob (presence)
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
