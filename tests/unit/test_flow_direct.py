"""The fan-out's straight write to a plain socket (flow.py, `direct`): counted on real socket
pairs. A message leaves in one `os.write` per reader and no transport call; what the kernel
does not take waits in the transport, in order, and the writer goes back to the socket once
that is sent; a writer closed, cut or lost is never written around its transport; TLS and
wrapped transports never go straight."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Callable

import pytest

from tests.unit.test_flow import _counted, _CountedTransport, _delivery, _received
from torbit.frontends.flow import FlushQueue, TransportWriter, plain_socket

Writes = list[tuple[int, bytes]]


class _Reader(asyncio.Protocol):
    pass


async def _plain_pair() -> tuple[asyncio.Transport, socket.socket]:
    ours, theirs = socket.socketpair()
    transport, _ = await asyncio.get_running_loop().connect_accepted_socket(_Reader, ours)
    return transport, theirs


@pytest.fixture
def os_writes(monkeypatch: pytest.MonkeyPatch) -> Writes:
    """Every `os.write` made while the test runs, as (descriptor, bytes)."""
    seen: Writes = []
    real = os.write

    def write(fd: int, data: bytes) -> int:
        seen.append((fd, bytes(data)))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    return seen


def _writer(
    t: asyncio.Transport,
    flushes: FlushQueue,
    limit: int = 1 << 20,
    on: Callable[[], None] = lambda: None,
) -> TransportWriter:
    return TransportWriter(t, limit, flushes, on, direct=True)


async def _drain(peer: socket.socket) -> bytes:
    peer.setblocking(False)
    got = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := peer.recv(1 << 20):
            got += chunk
    return got


async def test_a_fanned_message_goes_straight_to_each_socket(os_writes: Writes) -> None:
    flushes = FlushQueue()
    pairs = [await _plain_pair() for _ in range(3)]
    writers = [_writer(t, flushes) for t, _ in pairs]
    fds = [plain_socket(t) for t, _ in pairs]
    assert all(fd >= 0 for fd in fds)
    lines = [_delivery(i) for i in range(1, 4)]
    for d in lines:
        flushes.fan(writers, d)
        await asyncio.sleep(0)
    # one os.write per reader per message, nothing through the transports
    assert os_writes == [(fd, d.line) for d in lines for fd in fds]
    assert all(t.get_write_buffer_size() == 0 for t, _ in pairs)
    for _, p in pairs:
        assert await _received(p, 3 * len(lines[0].line)) == b"".join(d.line for d in lines)
    for w, (_, p) in zip(writers, pairs, strict=True):
        w.close()
        p.close()


async def test_what_the_kernel_does_not_take_waits_in_order_then_straight_again(
    os_writes: Writes,
) -> None:
    flushes = FlushQueue()
    t, peer = await _plain_pair()
    sock = t.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    w = _writer(t, flushes)
    fd = plain_socket(t)
    sent = []
    for i in range(400):  # the peer reads nothing: the socket fills, the transport holds
        d = _delivery(i, f"{i:04d}" + "y" * 1000)
        sent.append(d.line)
        flushes.fan([w], d)
        await asyncio.sleep(0)
    assert t.get_write_buffer_size() > 0 and not t.is_closing()
    straight = len(os_writes)
    assert 0 < straight < 400  # straight until full, then through the transport
    got = b""
    expected = b"".join(sent)
    while len(got) < len(expected):  # the peer reads: everything, in order
        got += await _drain(peer)
        await asyncio.sleep(0.01)
    assert got == expected and t.get_write_buffer_size() == 0
    flushes.fan([w], _delivery(9, "after"))  # sent through the transport: it is empty again
    await asyncio.sleep(0)
    flushes.fan([w], _delivery(10, "again"))  # so this one goes straight
    await asyncio.sleep(0)
    assert [data for f, data in os_writes[straight:] if f == fd] == [_delivery(10, "again").line]
    assert await _received(peer, 2 * len(_delivery(9, "after").line)) == (
        _delivery(9, "after").line + _delivery(10, "again").line
    )
    w.close()
    peer.close()


async def test_a_reader_that_stops_reading_is_still_dropped_once(os_writes: Writes) -> None:
    flushes = FlushQueue()
    (slow_t, slow_peer), (fast_t, fast_peer) = [await _plain_pair() for _ in range(2)]
    slow_peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    drops: list[str] = []
    slow = _writer(slow_t, flushes, 64 * 1024, lambda: drops.append("slow"))
    fast = _writer(fast_t, flushes, 1 << 30, lambda: drops.append("fast"))
    slow_fd, fd = plain_socket(slow_t), plain_socket(fast_t)
    d = _delivery(1, "x" * 3000)
    for _ in range(2000):
        flushes.fan([slow, fast], d)
        await asyncio.sleep(0)
        await _drain(fast_peer)
        if slow_t.is_closing():
            break
    assert drops == ["slow"] and slow_t.is_closing() and not fast_t.is_closing()
    before = [f for f, _ in os_writes].count(slow_fd)
    flushes.fan([slow, fast], d)  # after the drop: skipped, no second report, no write
    await asyncio.sleep(0)
    assert drops == ["slow"]
    assert [f for f, _ in os_writes].count(slow_fd) == before
    assert os_writes[-1] == (fd, d.line)
    fast.close()
    slow_peer.close()
    fast_peer.close()


@pytest.mark.parametrize("how", ["close", "cut", "lost"])
async def test_a_writer_closed_before_the_message_gets_none_of_it(
    os_writes: Writes, how: str
) -> None:
    """A session closed (revoked, quit), cut or lost but not yet out of the room's fan-out:
    its transport may still be flushing and its descriptor still open, and nothing is
    written to it (the descriptor is another client's once closed)."""
    flushes = FlushQueue()
    (gone_t, gone_peer), (t, peer) = [await _plain_pair() for _ in range(2)]
    gone, other = _writer(gone_t, flushes), _writer(t, flushes)
    gone_fd = plain_socket(gone_t)
    gone.write(b"bye\r\n")
    await asyncio.sleep(0)
    getattr(gone, how)()
    d = _delivery(1)
    flushes.fan([gone, other], d)
    await asyncio.sleep(0)
    assert [f for f, _ in os_writes].count(gone_fd) == 0
    assert os_writes == [(plain_socket(t), d.line)]
    assert await _received(peer, len(d.line)) == d.line
    await asyncio.sleep(0.05)
    assert await _drain(gone_peer) == b"bye\r\n"  # what it had before, then EOF or reset
    other.close()
    gone_peer.close()
    peer.close()
    if how == "lost":
        gone_t.close()


async def test_only_a_plain_socket_of_a_known_transport_goes_straight() -> None:
    plain, peer = await _plain_pair()
    assert plain_socket(plain) >= 0
    assert plain_socket(_CountedTransport(plain)) == -1  # a wrapper: never written around
    flushes = FlushQueue()
    off = TransportWriter(plain, 1 << 20, flushes, lambda: None)  # not asked: never straight
    wrapped = _CountedTransport(plain)
    writes = _counted(wrapped)
    on = TransportWriter(wrapped, 1 << 20, flushes, lambda: None, direct=True)
    flushes.fan([on], _delivery(1))
    await asyncio.sleep(0)
    assert writes == [_delivery(1).line]  # through the wrapper's write
    off.close()
    on.close()
    peer.close()


async def test_a_tls_transport_never_goes_straight() -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    loop = asyncio.get_running_loop()
    made: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Server, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    client, _ = await loop.create_connection(
        asyncio.Protocol, "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost"
    )
    tls = await made
    assert tls.get_extra_info("socket") is not None  # the socket is there, and not used
    assert plain_socket(tls) == -1
    assert plain_socket(client) == -1
    tls.close()
    client.close()
    server.close()
    await server.wait_closed()
