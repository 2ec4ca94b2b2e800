"""Plain text on a TLS port: a user who typed http:// for https://, or pointed telnet or an IRC
client at the TLS port, met silence and then a close ("empty reply from server", "connection
reset"). Each TLS port now answers a client whose first byte is plain text, once its first
words are in, and closes (frontends/handshake.py, `PlainAnswer`): HTTPS a 400 as nginx's,
telnet a line naming the plain port, IRC an ERROR. A TLS client still gets TLS; the hostile
cases stay bounded by the handshake timeout and the connection limits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import eventually
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import tls_doors, tls_server, trusting
from torbit.frontends import handshake

GUARD = 30.0  # seconds: a hang guard only, it times nothing


async def said(port: int, words: bytes) -> bytes:
    """What the server answers `words` sent in plain text, up to its close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(words)
    try:
        return await asyncio.wait_for(reader.read(), GUARD)
    finally:
        writer.close()


async def test_plain_http_on_the_https_port_gets_a_400(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await tls_server(make_server, tmp_path)
    assert app.http_port is not None
    async with httpx.AsyncClient() as client:  # http:// where https:// was meant
        r = await client.get(f"http://127.0.0.1:{app.http_port}/")
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "the plain HTTP request was sent to the HTTPS port: use https:// for this port"
    )
    # a head that comes in pieces is answered once it is whole
    reader, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    writer.write(b"GET / HTTP/1.1\r\nhost: x\r")
    await writer.drain()
    writer.write(b"\n\r\n")
    answer = await asyncio.wait_for(reader.read(), GUARD)
    writer.close()
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"connection: close" in head
    assert json.loads(body)["error"]["code"] == "bad_request"


async def test_plain_telnet_and_irc_on_the_tls_ports_are_told_the_plain_port(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await tls_server(make_server, tmp_path)
    assert app.telnet_tls_port and app.irc_tls_port
    told = f"This port speaks TLS: use port {app.telnet_port} for plain text.\r\n".encode()
    assert await said(app.telnet_tls_port, b"alice\r\n") == told
    # a telnet client that negotiates options before anything is typed is told at once
    assert await said(app.telnet_tls_port, b"\xff\xfd\x03") == told
    assert await said(app.irc_tls_port, b"CAP LS 302\r\nNICK alice\r\n") == (
        f"ERROR :Closing link: This port speaks TLS: use port {app.irc_port} for plain text"
        "\r\n".encode()
    )


async def test_with_plaintext_logins_off_the_telnet_tls_port_names_no_plain_port(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    _, tls, _ = tls_doors(tmp_path)
    app = await make_server(telnet={**tls, "allow_plaintext_login": False})
    assert app.telnet_tls_port is not None
    answer = await said(app.telnet_tls_port, b"alice\n")
    assert answer.startswith(b"This port speaks TLS: connect with a TLS client"), answer


async def test_tls_clients_still_get_tls_on_every_port(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    ca, tls, https = tls_doors(tmp_path)
    app = await make_server(telnet=tls, irc=tls, http=https)
    assert app.telnet_tls_port and app.irc_tls_port
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.telnet_tls_port, ssl=trusting(ca), server_hostname="localhost"
    )
    secure = TelnetClient(reader, writer)
    await secure.login("alice")
    secure.send("over tls")
    await secure.expect("<alice> over tls")
    await secure.close()
    async with httpx.AsyncClient(verify=trusting(ca)) as client:
        r = await client.get(f"https://localhost:{app.http_port}/healthz")
        assert r.status_code == 200
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.irc_tls_port, ssl=trusting(ca), server_hostname="localhost"
    )
    writer.write(b"PING :x\r\n")
    assert (await asyncio.wait_for(reader.readline(), GUARD)).startswith(b":")
    writer.close()


async def test_stalled_and_dribbled_first_bytes_stay_bounded(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One plain byte then nothing, one TLS byte then nothing, a plain head sent a byte at
    a time and never finished: each is closed at the handshake timeout (1 s here), the plain
    ones answered first; more plain bytes than a first request head may hold are answered
    at once; and every one of them counted in the connection limits until it is gone."""
    monkeypatch.setattr(handshake, "HANDSHAKE_TIMEOUT", 1.0)
    app = await tls_server(make_server, tmp_path)
    assert app.telnet is not None and app.http_port and app.telnet_tls_port
    connections = app.telnet.connections
    held = []
    for port in (app.http_port, app.telnet_tls_port):
        for first in (b"G", b"\x16"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(first)
            held.append((first, reader, writer))
    await eventually(lambda: connections.open == len(held))
    for first, reader, writer in held:
        answer = await asyncio.wait_for(reader.read(), GUARD)
        assert (answer != b"") == (first == b"G"), (first, answer)
        writer.close()
    await eventually(lambda: connections.open == 0)

    reader, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    for _ in range(3):  # a slowloris: a byte at a time, no end
        writer.write(b"X")
        await writer.drain()
    assert (await asyncio.wait_for(reader.read(), GUARD)).startswith(b"HTTP/1.1 400")
    writer.close()

    # the timeout now longer than the hang guard: an answer, or a close, is not the timeout's
    monkeypatch.setattr(handshake, "HANDSHAKE_TIMEOUT", 2 * GUARD)
    for garbage in (b"\x00\x01garbage\r\n", bytes(range(0x80, 0x100)) * 2):
        answer = await said(app.telnet_tls_port, garbage)  # not plain text: the TLS layer's
        assert not answer.startswith(b"This port"), answer  # its alert, or nothing; closed
    reader, writer = await asyncio.open_connection("127.0.0.1", app.irc_tls_port or 0)
    writer.write(b"A" * 600)  # past an IRC line's 512 bytes, no line end
    assert (await asyncio.wait_for(reader.read(), GUARD)).startswith(b"ERROR :")
    writer.close()
    await eventually(lambda: connections.open == 0)


async def test_a_plain_request_with_a_big_body_still_reads_its_400(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """A plain POST of 1 MB to the HTTPS port (attack56): answered once its head was in and
    closed with the body unread, so the kernel reset the connection and the client lost the
    answer ("connection reset", 9 of 10 such posts). The gate now sends its answer and the
    end of its side, and reads and drops what the client still sends until the client ends
    too (or the handshake's time is up), as nginx's lingering close."""
    app = await tls_server(make_server, tmp_path)
    assert app.http_port is not None
    body = b"x" * 1_000_000
    head = f"POST /api/v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    writer.write(head.encode() + body)
    await writer.drain()
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), GUARD)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:100]
    # and the telnet TLS port: a name, then a paste of many lines
    reader, writer = await asyncio.open_connection("127.0.0.1", app.telnet_tls_port or 0)
    writer.write(b"alice\r\n" + b"a pasted line of text\r\n" * 20_000)
    await writer.drain()
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), GUARD)
    writer.close()
    assert answer.startswith(b"This port speaks TLS"), answer[:100]


async def test_what_comes_after_the_answer_is_dropped_up_to_a_bound(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """A client that streams on after its answer is cut past `LINGER_BYTES` (1 MiB): read
    and dropped to the handshake's time, 20 such streams had the loop read 27 GB in 10 s."""
    app = await tls_server(make_server, tmp_path)
    assert app.http_port is not None
    _, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 999999999\r\n\r\n")
    sent = 0
    with pytest.raises(ConnectionError):  # cut long before 64 MB
        while sent < 64 << 20:
            writer.write(b"b" * 65536)
            await writer.drain()
            sent += 65536
    assert sent < 8 << 20
    writer.close()
