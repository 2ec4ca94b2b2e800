"""A TLS port's new connections take their token of `limits.connection_rate` at the accept,
whatever their first bytes are (frontends/handshake.py). The line doors took it in their
session and the HTTPS door in its doorman, both after the handshake, so a hello the handshake
refused and a plain client answered by the port took none (attack56): a reconnect storm at a
TLS port was bounded by the per-address and total connection limits only. Here a storm of
both from one address is refused past the burst, with the plain port's words for plain text
and in the door's words over TLS after it, while another address connects and logs in, and
an admitted TLS connection takes one token, not two."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import tls_doors, trusting

RATE = 0.01  # a token every 100 s: none comes back while the connections below are made
BURST = 4
REFUSAL = b"too many new connections from your address"
TOLD = (b"This port speaks TLS", b"ERROR :Closing link: This port", b"HTTP/1.1 400 ")
HOSTILE, OTHER, THIRD = "127.0.0.2", "127.0.0.3", "127.0.0.4"
GUARD = 30.0  # seconds: a hang guard only, it times nothing
# a handshake record of garbage: the TLS layer refuses it, closing the connection
GARBAGE_HELLO = b"\x16\x03\x01\x00\x08" + b"\x00" * 8


async def _until_closed(port: int, first: bytes) -> bytes:
    """What the server answers `first`, sent from HOSTILE, up to its close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(HOSTILE, 0))
    writer.write(first)
    try:
        async with asyncio.timeout(GUARD):
            got = b""
            while data := await reader.read(4096):
                got += data
            return got
    except ConnectionResetError:
        return b""  # (a garbage hello's close, with the rest of it unread)
    finally:
        writer.close()


async def _tls_telnet(port: int, ctx: ssl.SSLContext, source: str) -> TelnetClient:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="localhost", local_addr=(source, 0)
    )
    return TelnetClient(reader, writer)


async def _refused_over_tls(port: int, ctx: ssl.SSLContext, source: str) -> bytes:
    """What a TLS client from `source` is told, up to the close."""
    client = await _tls_telnet(port, ctx, source)
    got = b""
    async with asyncio.timeout(GUARD):
        while data := await client.reader.read(4096):
            got += data
    await client.close()
    return got


def _https(ca_ctx: ssl.SSLContext, source: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(verify=ca_ctx, local_address=source)
    )


async def test_refused_hellos_and_plain_answers_take_their_token(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    ca, tls, https = tls_doors(tmp_path)
    app = await make_server(
        telnet=tls,
        irc=tls,
        http=https,
        limits={"connection_rate": RATE, "connection_burst": BURST},
    )
    assert app.telnet_tls_port and app.irc_tls_port and app.http_port
    ctx = trusting(ca)
    plain = [
        (app.telnet_tls_port, b"alice\r\n"),
        (app.irc_tls_port, b"NICK alice\r\n"),
        (app.http_port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"),
    ] * BURST
    hellos = [(port, GARBAGE_HELLO) for port, _ in plain[:BURST]]
    storm = plain + hellos  # 4 times the burst, all at once from one address
    answers = await asyncio.gather(*(_until_closed(port, first) for port, first in storm))

    told = [got for got in answers[: len(plain)] if any(t in got for t in TOLD)]
    refused = [got for got in answers[: len(plain)] if REFUSAL in got]
    # each plain client got one or the other; the port's answer only within the burst
    assert len(told) + len(refused) == len(plain), answers
    assert len(told) <= BURST, answers
    assert len(refused) >= len(plain) - BURST, answers
    for got in answers[len(plain) :]:  # a hello gets TLS's alert (or nothing), no words
        assert not got or got.startswith(b"\x15\x03"), got
    assert any(got.startswith(b"HTTP/1.1 429 ") for got in refused), refused

    # the address's bucket is empty: a TLS client from it is refused in words, on each door
    said = await _refused_over_tls(app.telnet_tls_port, ctx, HOSTILE)
    assert REFUSAL in said and b"Name: " not in said, said
    async with _https(ctx, HOSTILE) as client:
        r = await client.get(f"https://localhost:{app.http_port}/healthz")
    assert r.status_code == 429, r.text

    # another address still connects and logs in, over TLS and HTTPS
    alice = await _tls_telnet(app.telnet_tls_port, ctx, OTHER)
    await alice.login("alice")
    alice.send("still here")
    await alice.expect("<alice> still here")
    await alice.close()
    async with _https(ctx, OTHER) as client:
        assert (await client.get(f"https://localhost:{app.http_port}/healthz")).status_code == 200


async def test_an_admitted_tls_connection_takes_one_token(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """Its gate takes the token, its session or doorman none more: the burst admits as
    many TLS connections from an address as a plain port would, and refuses the next."""
    ca, tls, https = tls_doors(tmp_path)
    app = await make_server(
        telnet=tls, http=https, limits={"connection_rate": RATE, "connection_burst": BURST}
    )
    assert app.telnet_tls_port and app.http_port
    ctx = trusting(ca)
    for _ in range(BURST - 1):
        telnet = await _tls_telnet(app.telnet_tls_port, ctx, THIRD)
        await telnet.read_until("Name: ")
        await telnet.close()
    async with _https(ctx, THIRD) as client:  # one connection: one token
        for _ in range(3):
            r = await client.get(f"https://localhost:{app.http_port}/healthz")
            assert r.status_code == 200, r.text
    said = await _refused_over_tls(app.telnet_tls_port, ctx, THIRD)
    assert REFUSAL in said, said
