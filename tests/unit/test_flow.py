"""The bounded, coalescing writer on a real socket pair: order kept under coalescing, one
write per loop turn for a burst, a slow reader dropped."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import cast

from torbit.frontends.flow import FlushQueue, TransportWriter


class _Counting(asyncio.Protocol):
    pass


async def _transport_pair() -> tuple[asyncio.Transport, socket.socket]:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(_Counting, ours)
    return cast(asyncio.Transport, transport), theirs


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
