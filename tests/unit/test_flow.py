"""The bounded, coalescing writer on a real socket pair: order kept under coalescing, one
write per loop turn for a burst, a slow reader dropped."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from torbit.frontends.flow import FlushQueue, TransportWriter


class _Counting(asyncio.Protocol):
    pass


async def _transport_pair() -> tuple[asyncio.Transport, socket.socket]:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(_Counting, ours)
    return transport, theirs


async def test_writes_of_one_turn_leave_in_one_write_in_order() -> None:
    transport, peer = await _transport_pair()
    writes: list[bytes] = []
    real_write = transport.write

    def counting_write(data: bytes | bytearray | memoryview) -> None:
        writes.append(bytes(data))
        real_write(data)

    transport.write = counting_write  # type: ignore[method-assign]
    writer = TransportWriter(transport, 1 << 20, FlushQueue(), lambda: None)
    for i in range(100):
        writer.write(f"line {i}\r\n".encode())
    assert writes == []  # nothing yet: the turn is not over
    await asyncio.sleep(0)
    assert len(writes) == 1
    expected = b"".join(f"line {i}\r\n".encode() for i in range(100))
    peer.setblocking(False)
    got = b""
    while len(got) < len(expected):
        await asyncio.sleep(0.01)
        with contextlib.suppress(BlockingIOError):
            got += peer.recv(65536)
    assert got == expected
    writer.write(b"alone\r\n")
    await asyncio.sleep(0)
    assert writes[-1] == b"alone\r\n"  # a lone line leaves at the end of its turn
    transport.close()
    peer.close()


async def test_a_reader_that_stops_reading_is_dropped_once() -> None:
    transport, peer = await _transport_pair()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    drops: list[int] = []
    writer = TransportWriter(transport, 64 * 1024, FlushQueue(), lambda: drops.append(1))
    chunk = b"x" * 8192
    for _ in range(2000):  # 16 MB: far past the socket buffers plus the limit
        writer.write(chunk)
        await asyncio.sleep(0)
        if transport.is_closing():
            break
    assert drops == [1]
    assert transport.is_closing()
    peer.close()


async def test_deliveries_and_notices_of_one_turn_keep_their_order_across_writers() -> None:
    """`deliver` (the fan-out path) and `write` (notices, replies) share one pending list, and
    two clients flushed in the same turn each get their own lines in order."""
    from datetime import UTC, datetime

    from torbit.core.delivery import Delivery
    from torbit.core.models import Message, MessageKind

    flushes = FlushQueue()
    pairs = [await _transport_pair() for _ in range(2)]
    writers = [TransportWriter(t, 1 << 20, flushes, lambda: None) for t, _ in pairs]
    sent = datetime(2026, 1, 1, tzinfo=UTC)
    deliveries = [
        Delivery(Message(i, "lobby", "alice", f"m{i}", sent, MessageKind.TEXT), UTC)
        for i in range(1, 4)
    ]
    for w in writers:
        w.write(b"first\r\n")
    for d in deliveries:
        for w in writers:
            w.deliver(d)
    for w in writers:
        w.write(b"last\r\n")
    assert len(flushes.dirty) == 2  # each writer queued once in this turn
    await asyncio.sleep(0)
    expected = b"first\r\n" + b"".join(d.line for d in deliveries) + b"last\r\n"
    for transport, peer in pairs:
        peer.setblocking(False)
        got = b""
        while len(got) < len(expected):
            await asyncio.sleep(0.01)
            with contextlib.suppress(BlockingIOError):
                got += peer.recv(65536)
        assert got == expected
        transport.close()
        peer.close()


async def test_a_reader_that_stops_reading_is_dropped_once_on_the_deliver_path() -> None:
    from datetime import UTC, datetime

    from torbit.core.delivery import Delivery
    from torbit.core.models import Message, MessageKind

    transport, peer = await _transport_pair()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    drops: list[int] = []
    writer = TransportWriter(transport, 64 * 1024, FlushQueue(), lambda: drops.append(1))
    sent = datetime(2026, 1, 1, tzinfo=UTC)
    d = Delivery(Message(1, "lobby", "alice", "x" * 8000, sent, MessageKind.TEXT), UTC)
    for _ in range(4000):
        writer.deliver(d)
        await asyncio.sleep(0)
        if transport.is_closing():
            break
    assert drops == [1]
    assert transport.is_closing()
    writer.deliver(d)  # after the drop: nothing happens, no second report
    writer.lost()
    writer.deliver(d)
    await asyncio.sleep(0)
    assert drops == [1]
    peer.close()
