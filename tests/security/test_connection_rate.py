"""New connections per address (`limits.connection_rate`, `connection_burst`). A client the
telnet or IRC door cut for flooding junk before login reconnected at once, ~2,000 times a
second from one address, each an accept and a greeting: `connections_per_ip` counts only
open connections, and these closed as fast as they came. Here an address's bucket of new
connections is shared by the line doors, plain and TLS alike, and each refuses in words."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from tests.conftest import ServerFactory
from tests.helpers.tls import tls_doors, trusting

RATE = 0.1  # a token every 10 s: none comes back while the connections below are made
BURST = 4
REFUSAL = b"too many new connections from your address"


async def _answer(port: int, irc: bool, ctx: ssl.SSLContext | None) -> bytes:
    """What a new connection is told first: telnet's login prompt, or (IRC, asked with a
    PING, which is answered before registration) a PONG; a refused one, its refusal and EOF."""
    tls = {"ssl": ctx, "server_hostname": "localhost"} if ctx else {}
    reader, writer = await asyncio.open_connection("127.0.0.1", port, **tls)  # type: ignore[arg-type]
    if irc:
        writer.write(b"PING :probe\r\n")
    got = b""
    async with asyncio.timeout(15):
        while not (b"Name: " in got or b"probe" in got or REFUSAL in got):
            data = await reader.read(4096)
            if not data:
                break
            got += data
    writer.close()
    return got


async def test_new_connections_past_the_burst_are_refused_on_every_line_door(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    ca, tls, _ = tls_doors(tmp_path)
    app = await make_server(
        telnet=tls, irc=tls, limits={"connection_rate": RATE, "connection_burst": BURST}
    )
    assert app.telnet_port and app.irc_port and app.telnet_tls_port and app.irc_tls_port
    ctx = trusting(ca)
    doors = [
        (app.telnet_port, False, None),
        (app.irc_port, True, None),
        (app.telnet_tls_port, False, ctx),
        (app.irc_tls_port, True, ctx),
    ]
    extra = 4
    answers = [await _answer(*doors[i % 4]) for i in range(BURST + extra)]
    refused = [i for i, got in enumerate(answers) if REFUSAL in got]
    # the burst is admitted, every one past it refused, each door in its own words
    assert refused == list(range(BURST, BURST + extra)), answers
    assert b"! too many new connections" in answers[BURST], answers[BURST]
    assert b"ERROR :Closing link: too many new" in answers[BURST + 1], answers
    assert b"wait a few seconds" in answers[BURST + 2]
    assert b"ERROR :Closing link: too many new" in answers[BURST + 3]

    await asyncio.sleep(1 / RATE + 0.5)  # a token is back
    assert b"Name: " in await _answer(*doors[0])
    assert REFUSAL in await _answer(*doors[1])  # and only one
