"""Bounded request heads (frontends/http/guard.py): a head that never ends is refused with 431
before it can fill memory, one that comes too slowly gets 408, a connection that never sends
anything is closed, and ordinary requests (kept alive, pipelined) are untouched."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest

from tests.conftest import ServerFactory
from torbit.app import App
from torbit.frontends.http import guard


@pytest.fixture
async def connections() -> AsyncIterator[list[asyncio.StreamWriter]]:
    """Writers to close at the end, whatever the test did."""
    writers: list[asyncio.StreamWriter] = []
    yield writers
    for w in writers:
        w.close()
        with contextlib.suppress(ConnectionError):
            await w.wait_closed()


async def open_http(
    app: App, connections: list[asyncio.StreamWriter]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert app.http_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    connections.append(writer)
    return reader, writer


async def response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one response (content-length framed)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status = int(head.split()[1])
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    return status, await reader.readexactly(length)


async def error_of(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Status and error code of one answer in the API's error shape."""
    status, body = await response(reader)
    return status, json.loads(body)["error"]["code"]


async def test_an_endless_header_is_refused_with_431(
    server: App, connections: list[asyncio.StreamWriter]
) -> None:
    _, writer = await open_http(server, connections)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    with pytest.raises(ConnectionError):  # the server hangs up long before 64 MB
        while sent < 64 << 20:
            writer.write(b"b" * 65536)
            await writer.drain()
            sent += 65536
    assert sent < 8 << 20


async def test_the_431_answer_has_the_error_shape(
    server: App, connections: list[asyncio.StreamWriter]
) -> None:
    reader, writer = await open_http(server, connections)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    await asyncio.sleep(0.2)  # the read that begins a head is not counted: it may hold more
    writer.write(b"b" * 70_000)
    assert await error_of(reader) == (431, "too_large")
    assert await reader.read() == b""  # and the connection is closed


async def test_a_head_past_the_bound_is_refused_when_it_ends_in_one_read(
    server: App, connections: list[asyncio.StreamWriter]
) -> None:
    """A head of 64 KB to 300 KB sent at once (attack56): only the reads that left the head
    incomplete were counted, so a head that came whole in one or two reads passed (200 for
    300 KB on the plain port, 100 KB over TLS), where 64 KB is the bound. Its fields are
    counted as the parser gives them, and a head past the bound is refused as it ends."""
    for size in (70_000, 300_000):
        reader, writer = await open_http(server, connections)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * size + b"\r\n\r\n")
        try:
            answer = await asyncio.wait_for(reader.read(), 10)
        except ConnectionError:  # refused while it came, the rest unread: a reset
            answer = b""
        assert answer.startswith(b"HTTP/1.1 431 ") or (size > 70_000 and answer == b""), size
    reader, writer = await open_http(server, connections)  # under it, as before
    many = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(60))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert (await response(reader))[0] == 200


async def test_slow_and_silent_connections_are_closed(
    make_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    connections: list[asyncio.StreamWriter],
) -> None:
    monkeypatch.setattr(guard, "HEAD_TIMEOUT", 0.5)
    app = await make_server()
    silent_reader, _ = await open_http(app, connections)
    slow_reader, slow = await open_http(app, connections)
    slow.write(b"GET /healthz HTTP/1.1\r\nHo")
    status, body = await response(slow_reader)
    assert status == 408 and json.loads(body)["error"]["code"] == "timeout"
    assert await asyncio.wait_for(silent_reader.read(), 10) == b""  # closed without a word


async def test_ordinary_requests_are_untouched(
    make_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    connections: list[asyncio.StreamWriter],
) -> None:
    monkeypatch.setattr(guard, "HEAD_TIMEOUT", 0.5)
    app = await make_server()
    reader, writer = await open_http(app, connections)
    # kept alive past the head timeout, then two pipelined requests with a big (allowed) head
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await response(reader))[0] == 200
    await asyncio.sleep(0.7)  # past the head timeout, within the keep-alive one
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await response(reader))[0] == 200
    await asyncio.sleep(0.7)  # past the head timeout, within the keep-alive one
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fill: " + b"f" * 30_000 + b"\r\n\r\n"
    writer.write(big + big)
    assert [(await response(reader))[0] for _ in range(2)] == [200, 200]


async def test_deadlines_are_armed_only_for_what_a_read_left_incomplete(
    make_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
    connections: list[asyncio.StreamWriter],
) -> None:
    """A kept-alive request whose head and body come in one read sets no timer; a head or a
    body split over reads still gets its deadline (counted, and the head's enforced)."""
    armed: list[str] = []
    arm, arm_body = guard.GuardedHttpTools._arm, guard.GuardedHttpTools._arm_body

    def counting_arm(self: guard.GuardedHttpTools) -> None:
        armed.append("head")
        arm(self)

    def counting_arm_body(self: guard.GuardedHttpTools) -> None:
        armed.append("body")
        arm_body(self)

    monkeypatch.setattr(guard.GuardedHttpTools, "_arm", counting_arm)
    monkeypatch.setattr(guard.GuardedHttpTools, "_arm_body", counting_arm_body)
    monkeypatch.setattr(guard, "HEAD_TIMEOUT", 0.5)
    app = await make_server()
    reader, writer = await open_http(app, connections)
    post = b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
    for _ in range(3):
        writer.write(post + b"hello")
        assert (await response(reader))[0] == 404
    assert armed == ["head"]  # the connection's opening only
    writer.write(post)
    await asyncio.sleep(0.1)
    writer.write(b"hello")
    assert (await response(reader))[0] == 404
    assert armed == ["head", "body"]
    writer.write(b"GET /healthz HTTP/1.1\r\nHo")  # a kept-alive connection's next head stalls
    status, body = await response(reader)
    assert status == 408 and json.loads(body)["error"]["code"] == "timeout"
    assert armed == ["head", "body", "head"]


CHUNKED = (
    b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


async def test_an_endless_trailer_is_refused_with_431(
    server: App, connections: list[asyncio.StreamWriter]
) -> None:
    """Trailer lines after the last chunk were kept as headers without bound: one request,
    with no account, took the server from 0.1 to 4.8 GB (stop 47's probe)."""
    reader, writer = await open_http(server, connections)
    writer.write(CHUNKED + b"2\r\n{}\r\n0\r\n")
    sent = 0
    with pytest.raises(ConnectionError):  # the server hangs up long before 64 MB
        while sent < 64 << 20:
            writer.write(b"a: b\r\n" * 10_000)
            await writer.drain()
            sent += 60_000
    assert sent < 8 << 20

    reader, writer = await open_http(server, connections)
    writer.write(CHUNKED + b"2\r\n{}\r\n0\r\n")
    await asyncio.sleep(0.2)  # the read that ends the head is not counted: it may hold more
    writer.write(b"a: b\r\n" * 12_000)
    assert await error_of(reader) == (431, "too_large")


async def test_chunked_bodies_and_a_small_trailer_pass(
    server: App, connections: list[asyncio.StreamWriter]
) -> None:
    """Many small chunks (their size lines are framing), then a trailer, which is dropped:
    a trailer's `Authorization` never counts as the request's."""
    reader, writer = await open_http(server, connections)
    payload = json.dumps({"name": "nobody", "password": "not-this-one"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (1, payload[i : i + 1]) for i in range(len(payload)))
    writer.write(CHUNKED + chunks + b"0\r\nAuthorization: Basic eDp5\r\nX-T: 1\r\n\r\n")
    status, body = await response(reader)
    assert status == 401, body  # the login was read and refused: no such account
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection goes on
    status, _ = await response(reader)
    assert status == 200


@pytest.mark.parametrize(
    "extra",
    [
        b"Authorization: Basic YTpi\r\nAuthorization: Basic Yzpk\r\n",
        b"Origin: http://127.0.0.1\r\nOrigin: http://evil.example\r\n",
        b"Host: y\r\n",
    ],
)
async def test_a_header_given_twice_is_refused(
    server: App, connections: list[asyncio.StreamWriter], extra: bytes
) -> None:
    """Two Authorizations were answered as the first's user, two Origins passed the origin
    check on the first: whatever stood before the server may have read the other."""
    reader, writer = await open_http(server, connections)
    writer.write(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
    assert await error_of(reader) == (400, "bad_request")


async def test_a_transfer_coding_other_than_chunked_is_refused(
    server: App, connections: list[asyncio.StreamWriter]
) -> None:
    """`gzip, chunked` was taken as chunked, the gzip ignored: the body stored as sent."""
    reader, writer = await open_http(server, connections)
    writer.write(CHUNKED.replace(b"chunked", b"gzip, chunked") + b"2\r\n{}\r\n0\r\n\r\n")
    assert await error_of(reader) == (501, "not_implemented")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /healthz HTTP/1.1\nHost: x\n\n",
        CHUNKED + b"zz\r\n",
    ],
)
async def test_a_request_the_parser_refuses_gets_the_error_shape(
    server: App, connections: list[asyncio.StreamWriter], request_bytes: bytes
) -> None:
    """Was uvicorn's `400` in plain text ("Invalid HTTP request received.")."""
    reader, writer = await open_http(server, connections)
    writer.write(request_bytes)
    assert await error_of(reader) == (400, "bad_request")


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        (b"Sec-WebSocket-Key: not-a-key\r\nSec-WebSocket-Version: 13\r\n", 400, "bad_request"),
        (
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
            400,
            "bad_request",
        ),
        (b"Sec-WebSocket-Version: 13\r\n", 400, "bad_request"),
    ],
    ids=["bad-key", "old-version", "no-key"],
)
async def test_a_websocket_handshake_refused_gets_the_error_shape(
    server: App, connections: list[asyncio.StreamWriter], headers: bytes, status: int, code: str
) -> None:
    """Was websockets' own plain text ("Failed to open a WebSocket connection: invalid
    Sec-WebSocket-Key header: not-a-key."); the reason stays the message."""
    reader, writer = await open_http(server, connections)
    writer.write(
        b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + headers
        + b"\r\n"
    )
    answer, body = await response(reader)
    error = json.loads(body)["error"]
    assert (answer, error["code"]) == (status, code)
    assert error["message"].startswith("Failed to open a WebSocket connection: "), error
    assert "Sec-WebSocket" in error["message"], error
