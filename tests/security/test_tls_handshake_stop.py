"""A stop cuts TLS handshakes that are not done (frontends/handshake.py). On main a client
that opened a socket to the TLS telnet or IRC port and never sent a hello kept the stop
waiting for the handshake timeout (10 s), and its socket stayed open through the stop
(HTTPS too). Here
the handshake timeout is 60 s: the stop must be done, with those sockets closed, long
before it (the test's guard is 30 s and bounds the wait; it measures nothing)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.tls import hung_up, tls_ports, tls_server
from torbit.frontends import handshake

GUARD = 30.0  # seconds: a hang guard, half the handshake timeout set below


async def test_a_stop_cuts_tls_handshakes_not_done(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handshake, "HANDSHAKE_TIMEOUT", 60.0)
    app = await tls_server(make_server, tmp_path)
    assert app.telnet is not None
    connections = app.telnet.connections
    telnet, irc, https = tls_ports(app)

    # sockets that never say hello, on every TLS door; one sends half a hello
    silent = [
        await asyncio.open_connection("127.0.0.1", port) for port in (telnet, telnet, irc, https)
    ]
    silent[0][1].write(b"\x16\x03\x01\x02\x00")  # a record header, then nothing
    async with asyncio.timeout(GUARD):  # every one accepted: its handshake has begun
        while connections.open < len(silent):
            await asyncio.sleep(0.05)

    async with asyncio.timeout(GUARD):
        await app.stop()
    assert app.core is None
    for reader, writer in silent:
        assert await hung_up(reader, GUARD)
        writer.close()
    assert connections.open == 0
