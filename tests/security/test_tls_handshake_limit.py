"""A TLS connection counts against `limits.connections_per_ip` (and `max_connections`) from
its accept, not from the end of its handshake (frontends/handshake.py). On main it counted
only once the handshake was done: a client opening sockets to the TLS telnet, IRC or HTTPS
port and never sending a hello held each for the handshake timeout (10 s; HTTPS: 60 s), as
many as it liked (250 from one address with a limit of 100), and here `connections.open`
stays 0 while 5 are held."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import eventually
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import hung_up, tls_doors

LIMIT = 5


async def test_tls_handshakes_in_flight_count_per_address(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    ca, tls, https = tls_doors(tmp_path)
    app = await make_server(telnet=tls, irc=tls, http=https, limits={"connections_per_ip": LIMIT})
    assert app.telnet is not None and app.telnet_tls_port and app.irc_tls_port and app.http_port
    connections = app.telnet.connections

    # sockets that never say hello, on both TLS doors: each counts at once
    silent = [
        await asyncio.open_connection("127.0.0.1", port)
        for port in [app.telnet_tls_port] * 2 + [app.irc_tls_port] * 2 + [app.http_port]
    ]
    await eventually(lambda: connections.open == LIMIT)
    for port in (app.irc_tls_port, app.telnet_tls_port, app.http_port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await hung_up(reader, 5)  # one too many: refused before any handshake
        writer.close()

    # gone, they count no more (handshakes under way and not yet begun alike)
    for _, writer in silent:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    await eventually(lambda: connections.open == 0)

    # a real client is let in and counted as one, then not at all once gone
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.telnet_tls_port, ssl=ctx, server_hostname="localhost"
    )
    client = TelnetClient(reader, writer)
    await client.login("alice")
    assert connections.open == 1
    await client.close()
    await eventually(lambda: connections.open == 0)
    async with httpx.AsyncClient(verify=ctx) as http:
        r = await http.get(f"https://localhost:{app.http_port}/healthz")
        assert r.status_code == 200
        assert "Strict-Transport-Security" in r.headers  # still known to have come over TLS
