"""TLS handshakes that never finish (attack11): sockets to the TLS telnet, IRC and HTTPS
ports that send nothing, a record header, or half a real ClientHello, and hold. Each counts
in the total `limits.max_connections` from its accept (frontends/handshake.py), so past the
cap one more is refused before any handshake; the server closes every held one at the
handshake timeout (1 s here); and an honest client who came in before the cap was reached
logs in and chats over TLS meanwhile. Held: no change was needed."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import eventually
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import hung_up, tls_doors
from torbit.frontends import handshake

CAP = 12  # total connections (limits.max_connections), none per address
GUARD = 20.0  # seconds: a hang guard, many times the handshake timeout; it times nothing


def half_a_hello() -> bytes:
    """The first half of a real ClientHello, as a client's TLS layer writes it."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert hello[0] == 0x16 and len(hello) > 100  # a handshake record
    return hello[: len(hello) // 2]


async def test_held_handshakes_are_capped_and_closed_while_others_chat(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handshake, "HANDSHAKE_TIMEOUT", 1.0)
    ca, tls, https = tls_doors(tmp_path)
    app = await make_server(
        telnet=tls,
        irc=tls,
        http=https,
        limits={"max_connections": CAP, "connections_per_ip": 0},
    )
    assert app.telnet is not None and app.telnet_tls_port and app.irc_tls_port and app.http_port
    connections = app.telnet.connections
    ports = (app.telnet_tls_port, app.irc_tls_port, app.http_port)

    # an honest client over TLS, logged in before the flood
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.telnet_tls_port, ssl=ctx, server_hostname="localhost"
    )
    honest = TelnetClient(reader, writer)
    await honest.login("alice")

    # CAP - 1 held handshakes on the three doors: nothing, a record header, half a hello
    hello = half_a_hello()
    held = []
    for i in range(CAP - 1):
        r, w = await asyncio.open_connection("127.0.0.1", ports[i % 3])
        w.write([b"", b"\x16\x03\x01\x02\x00", hello][i // 3 % 3])
        held.append((r, w))
    await eventually(lambda: connections.open == CAP)
    # the cap is reached: one more socket is refused before any handshake, on any door
    for port in ports:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        assert await hung_up(r, GUARD)
        w.close()
    # meanwhile the honest client chats
    honest.send("still here")
    await honest.expect("<alice> still here")

    # the server closes every held handshake at its timeout; they count no more
    for r, w in held:
        assert await hung_up(r, GUARD)
        w.close()
    await eventually(lambda: connections.open == 1)
    honest.send("after")
    await honest.expect("<alice> after")
    async with httpx.AsyncClient(verify=ctx) as http:
        answer = await http.get(f"https://localhost:{app.http_port}/healthz")
        assert answer.status_code == 200
    await eventually(lambda: connections.open == 1)
    await honest.close()
