"""The bounded, coalescing writer on a real socket pair: order kept under coalescing, one
write per loop turn for a burst, a slow reader dropped."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from torbit.core.delivery import Delivery
from torbit.frontends.flow import FlushQueue, TransportWriter


class _Counting(asyncio.Protocol):
    pass


class _CountedTransport(asyncio.Transport):
    """The loop's transport, with each `write` recorded. A wrapper, not a patched `write`:
    uvloop's transports (the loop `torbit serve` runs on) have read-only methods."""

    def __init__(self, real: asyncio.Transport) -> None:
        super().__init__()
        self.real = real
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        self.real.write(data)

    def is_closing(self) -> bool:
        return self.real.is_closing()

    def get_write_buffer_size(self) -> int:
        return self.real.get_write_buffer_size()

    def close(self) -> None:
        self.real.close()

    def abort(self) -> None:
        self.real.abort()


async def _transport_pair() -> tuple[_CountedTransport, socket.socket]:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(_Counting, ours)
    return _CountedTransport(transport), theirs


async def _slow_reader(
    flushes: FlushQueue,
) -> tuple[_CountedTransport, socket.socket, TransportWriter, list[int]]:
    """A writer (64 KiB limit) to a peer that reads nothing, through a 4 KiB receive buffer;
    the list gets a 1 for each drop the writer reports."""
    transport, peer = await _transport_pair()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    drops: list[int] = []
    writer = TransportWriter(transport, 64 * 1024, flushes, lambda: drops.append(1))
    return transport, peer, writer, drops


async def _dropped_once(
    transport: _CountedTransport, send: Callable[[], None], most: int, drops: list[int]
) -> None:
    """`send()` a turn, at most `most` times, until the writer closes `transport`: it did,
    reporting the drop once."""
    for _ in range(most):
        send()
        await asyncio.sleep(0)
        if transport.is_closing():
            break
    assert drops == [1]
    assert transport.is_closing()


async def test_writes_of_one_turn_leave_in_one_write_in_order() -> None:
    transport, peer = await _transport_pair()
    writes = _counted(transport)
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
    transport, peer, writer, drops = await _slow_reader(FlushQueue())
    chunk = b"x" * 8192
    # 16 MB at most: far past the socket buffers plus the limit
    await _dropped_once(transport, lambda: writer.write(chunk), 2000, drops)
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

    transport, peer, writer, drops = await _slow_reader(FlushQueue())
    sent = datetime(2026, 1, 1, tzinfo=UTC)
    d = Delivery(Message(1, "lobby", "alice", "x" * 8000, sent, MessageKind.TEXT), UTC)
    await _dropped_once(transport, lambda: writer.deliver(d), 4000, drops)
    writer.deliver(d)  # after the drop: nothing happens, no second report
    writer.lost()
    writer.deliver(d)
    await asyncio.sleep(0)
    assert drops == [1]
    peer.close()


# The flush window (Nagle-like hold-off after a broadcast). Big flush = to `big` writers or more.


def _counted(transport: _CountedTransport) -> list[bytes]:
    """The writes the writer made on `transport` (see _CountedTransport)."""
    return transport.writes


async def _received(peer: socket.socket, size: int) -> bytes:
    peer.setblocking(False)
    got = b""
    while len(got) < size:
        await asyncio.sleep(0.01)
        with contextlib.suppress(BlockingIOError):
            got += peer.recv(65536)
    return got


async def _after_a_broadcast(
    window: float,
) -> tuple[list[TransportWriter], list[list[bytes]], list[socket.socket]]:
    """Two writers on one queue with `big=2`, after a flush to both (a broadcast)."""
    flushes = FlushQueue(window, big=2)
    pairs = [await _transport_pair() for _ in range(2)]
    writes = [_counted(t) for t, _ in pairs]
    writers = [TransportWriter(t, 1 << 20, flushes, lambda: None) for t, _ in pairs]
    for w in writers:
        w.write(b"broadcast\r\n")
    await asyncio.sleep(0)
    assert writes == [[b"broadcast\r\n"], [b"broadcast\r\n"]]
    return writers, writes, [peer for _, peer in pairs]


async def test_after_a_broadcast_the_next_turns_output_is_held_and_leaves_in_one_write() -> None:
    writers, writes, peers = await _after_a_broadcast(0.2)
    writers[0].write(b"one\r\n")
    await asyncio.sleep(0)
    assert writes[0] == [b"broadcast\r\n"]  # held: the last flush was a broadcast
    writers[0].write(b"two\r\n")  # another turn, same window
    await asyncio.sleep(0)
    while len(writes[0]) == 1:  # the window's timer (one for the queue) writes it
        await asyncio.sleep(0.01)
    assert writes[0] == [b"broadcast\r\n", b"one\r\ntwo\r\n"]
    expected = b"broadcast\r\none\r\ntwo\r\n"
    assert await _received(peers[0], len(expected)) == expected
    # that flush went to one writer: small, so the next line leaves in its own turn again
    writers[0].write(b"three\r\n")
    await asyncio.sleep(0)
    assert writes[0][-1] == b"three\r\n"
    assert len(writes[0]) == 3
    for w, p in zip(writers, peers, strict=True):
        w.close()
        p.close()


async def test_without_a_window_a_broadcast_holds_nothing() -> None:
    writers, writes, peers = await _after_a_broadcast(0.0)
    writers[0].write(b"one\r\n")
    await asyncio.sleep(0)
    assert writes[0] == [b"broadcast\r\n", b"one\r\n"]
    for w, p in zip(writers, peers, strict=True):
        w.close()
        p.close()


async def test_a_lone_line_on_a_quiet_server_leaves_in_its_turn_with_a_window() -> None:
    transport, peer = await _transport_pair()
    writes = _counted(transport)
    writer = TransportWriter(transport, 1 << 20, FlushQueue(0.5, big=2), lambda: None)
    for i in range(3):
        writer.write(f"line {i}\r\n".encode())
        await asyncio.sleep(0)
        assert len(writes) == i + 1  # small flushes never hold the next one
    writer.close()
    peer.close()


async def test_held_output_is_pending_and_written_on_close() -> None:
    """A graceful shutdown waits while `pending()`, then closes sessions: `close` writes what
    the window holds."""
    writers, writes, peers = await _after_a_broadcast(60.0)
    writers[0].write(b"held\r\n")
    await asyncio.sleep(0)
    assert writes[0] == [b"broadcast\r\n"]
    assert writers[0].pending()
    writers[0].close()
    assert writes[0] == [b"broadcast\r\n", b"held\r\n"]
    assert await _received(peers[0], 17) == b"broadcast\r\nheld\r\n"
    writers[1].close()
    for p in peers:
        p.close()


async def test_a_reader_that_stops_reading_is_dropped_once_under_a_window() -> None:
    # every flush is big: all but the first are held
    transport, peer, writer, drops = await _slow_reader(FlushQueue(60.0, big=1))
    chunk = b"x" * 8192
    # the byte limit still writes at once, so the backlog shows
    await _dropped_once(transport, lambda: writer.write(chunk), 2000, drops)
    peer.close()


# Ending a hold early: a held writer with a batch queued (default 2 KiB) flushes the queue.


async def test_a_held_queue_flushes_in_the_turn_a_writer_passes_the_batch() -> None:
    """As Nagle sends a full segment: held lines leave at the end of the turn in which one
    writer's queue passes the batch, with every other held writer's, in order, long before
    the window (60 s) would end; the flush was big, so the hold then starts again."""
    writers, writes, peers = await _after_a_broadcast(60.0)
    writers[1].write(b"other\r\n")
    line = b"x" * 98 + b"\r\n"
    turns = 0
    while len(writes[0]) == 1 and turns < 1000:  # a hang guard, not a timing
        writers[0].write(line)
        await asyncio.sleep(0)
        turns += 1
    assert 1 < turns < 1000  # held at first, then flushed by the batch (not by 60 s)
    assert 2048 <= turns * len(line) <= 4096  # the batch: a few KiB, not one line
    assert writes[0] == [b"broadcast\r\n", line * turns]  # one write, in order
    assert writes[1] == [b"broadcast\r\n", b"other\r\n"]  # the whole queue went
    writers[0].write(b"after\r\n")
    await asyncio.sleep(0)
    assert len(writes[0]) == 2  # that flush went to both writers: held again
    writers[0].close()
    assert writes[0][-1] == b"after\r\n"
    expected = b"broadcast\r\n" + line * turns + b"after\r\n"
    assert await _received(peers[0], len(expected)) == expected
    writers[1].close()
    for p in peers:
        p.close()


async def test_the_batch_ends_a_hold_on_the_deliver_path_and_keeps_order() -> None:
    """Deliveries (the fan-out path) and notices (`write`) of held turns leave in one write per
    client, in their order, at the end of the turn in which the batch was passed."""
    from datetime import UTC, datetime

    from torbit.core.delivery import Delivery
    from torbit.core.models import Message, MessageKind

    writers, writes, peers = await _after_a_broadcast(60.0)
    sent = datetime(2026, 1, 1, tzinfo=UTC)
    deliveries = [
        Delivery(
            Message(i, "lobby", "alice", f"m{i:03d} " + "y" * 200, sent, MessageKind.TEXT), UTC
        )
        for i in range(1, 41)
    ]
    expected = [b"broadcast\r\n", b"broadcast\r\n"]
    for i, d in enumerate(deliveries):
        for k, w in enumerate(writers):
            w.deliver(d)
            expected[k] += d.line
            if i % 3 == 0:
                w.write(b"notice %d\r\n" % i)
                expected[k] += b"notice %d\r\n" % i
        await asyncio.sleep(0)  # one delivery a turn, as a steady sender's
        if len(writes[0]) > 1:
            break
    assert 0 < i < len(deliveries) - 1  # held at first; the batch ended the hold (not 60 s)
    for k in range(2):
        assert len(writes[k]) == 2
        assert await _received(peers[k], len(expected[k])) == expected[k]
    for w, p in zip(writers, peers, strict=True):
        w.close()
        p.close()


async def test_without_a_window_a_turn_past_the_batch_is_still_one_write() -> None:
    transport, peer = await _transport_pair()
    writes = _counted(transport)
    writer = TransportWriter(transport, 1 << 20, FlushQueue(), lambda: None)
    line = b"z" * 510 + b"\r\n"
    for _ in range(64):  # 32 KiB in one turn: far past any batch
        writer.write(line)
    assert writes == []
    await asyncio.sleep(0)
    assert writes == [line * 64]
    writer.close()
    peer.close()


async def test_a_slow_reader_is_dropped_while_small_lines_are_held() -> None:
    """Under a window the batch flushes small held lines; a reader that takes none is still
    dropped once its backlog passes the limit."""
    # every flush is big: all but the first are held
    transport, peer, writer, drops = await _slow_reader(FlushQueue(60.0, big=1))
    writes = _counted(transport)
    line = b"w" * 198 + b"\r\n"
    # 4 MB at most: far past the socket buffers plus the limit
    await _dropped_once(transport, lambda: writer.write(line), 20000, drops)
    assert len(writes) > 2  # the batch flushed held lines, not only the byte limit
    peer.close()


async def test_an_idle_writer_keeps_no_count_of_what_it_wrote() -> None:
    """The size of a turn's output is 0 again once it is written (a count past 256 is an int
    object an idle client would keep: 31 bytes a connection), by the queue or at once."""
    transport, peer = await _transport_pair()
    writer = TransportWriter(transport, 1 << 20, FlushQueue(), lambda: None)
    writer.write(b"x" * 1000)
    writer.write(b"y" * 1000)
    assert writer._queued == 2000
    await asyncio.sleep(0)
    assert len(transport.writes) == 1 and writer._queued == 0
    writer.write(b"z" * 1000)
    writer.flush()
    assert len(transport.writes) == 2 and writer._queued == 0
    transport.close()
    peer.close()


# One message to many writers in one call (`FlushQueue.fan`, the hub's path for telnet)


def _delivery(i: int, text: str = "") -> Delivery:
    from datetime import UTC, datetime

    from torbit.core.models import Message, MessageKind

    sent = datetime(2026, 1, 1, tzinfo=UTC)
    return Delivery(Message(i, "lobby", "alice", text or f"m{i}", sent, MessageKind.TEXT), UTC)


async def _fanned(
    n: int, flushes: FlushQueue
) -> tuple[list[TransportWriter], list[list[bytes]], list[socket.socket]]:
    pairs = [await _transport_pair() for _ in range(n)]
    writers = [TransportWriter(t, 1 << 20, flushes, lambda: None) for t, _ in pairs]
    return writers, [_counted(t) for t, _ in pairs], [p for _, p in pairs]


async def test_a_fanned_message_alone_in_its_turn_is_one_write_each_and_no_queue() -> None:
    flushes = FlushQueue()
    writers, writes, peers = await _fanned(3, flushes)
    d = _delivery(1)
    flushes.fan(writers, d)
    assert flushes.dirty == [] and writes == [[], [], []]  # noted, nothing queued per writer
    await asyncio.sleep(0)
    assert writes == [[d.line]] * 3
    for p in peers:
        assert await _received(p, len(d.line)) == d.line
    # the next turn's output is ordinary again
    writers[0].write(b"next\r\n")
    await asyncio.sleep(0)
    assert writes[0] == [d.line, b"next\r\n"] and writes[1] == [d.line]
    for w, p in zip(writers, peers, strict=True):
        w.close()
        p.close()


async def test_output_after_a_fanned_message_in_its_turn_keeps_order_in_one_write() -> None:
    """Anything else written in the turn spreads the noted message into the writers' queues
    first: each writer still gets one write, the message before what followed it."""
    flushes = FlushQueue()
    writers, writes, peers = await _fanned(3, flushes)
    d1, d2, d3 = _delivery(1), _delivery(2), _delivery(3)
    flushes.fan(writers, d1)
    writers[0].write(b"notice\r\n")  # a notice to one of them
    flushes.fan(writers, d2)  # a second message in the same turn
    writers[1].deliver(d3)  # and a delivery on the one-by-one path
    await asyncio.sleep(0)
    assert writes[0] == [d1.line + b"notice\r\n" + d2.line]
    assert writes[1] == [d1.line + d2.line + d3.line]
    assert writes[2] == [d1.line + d2.line]
    for w, p in zip(writers, peers, strict=True):
        w.close()
        p.close()


async def test_a_writer_closed_in_the_turn_of_a_fanned_message_still_sends_it() -> None:
    flushes = FlushQueue()
    writers, writes, peers = await _fanned(2, flushes)
    d = _delivery(1)
    flushes.fan(writers, d)
    assert writers[0].pending()
    writers[0].close()  # a shutdown or a /quit in the same turn: the message goes first
    assert writes[0] == [d.line]
    await asyncio.sleep(0)
    assert writes[1] == [d.line] and writes[0] == [d.line]
    assert await _received(peers[0], len(d.line)) == d.line
    writers[1].close()
    for p in peers:
        p.close()


async def test_a_reader_that_stops_reading_is_dropped_once_on_the_fan_path() -> None:
    flushes = FlushQueue()
    pairs = [await _transport_pair() for _ in range(2)]
    slow_t, slow_peer = pairs[0]
    slow_peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    drops: list[str] = []
    slow = TransportWriter(slow_t, 64 * 1024, flushes, lambda: drops.append("slow"))
    fast_t, fast_peer = pairs[1]
    fast = TransportWriter(fast_t, 1 << 30, flushes, lambda: drops.append("fast"))
    d = _delivery(1, "x" * 3000)
    for _ in range(2000):
        flushes.fan([slow, fast], d)
        await asyncio.sleep(0)
        if slow_t.is_closing():
            break
    assert drops == ["slow"] and slow_t.is_closing() and not fast_t.is_closing()
    flushes.fan([slow, fast], d)  # after the drop: skipped, no second report
    await asyncio.sleep(0)
    assert drops == ["slow"]
    fast.close()
    slow_peer.close()
    fast_peer.close()


async def test_a_fanned_message_to_big_many_writers_holds_the_next_flush() -> None:
    flushes = FlushQueue(60.0, big=2)
    writers, writes, peers = await _fanned(2, flushes)
    d = _delivery(1)
    flushes.fan(writers, d)
    await asyncio.sleep(0)
    assert writes == [[d.line], [d.line]]
    flushes.fan(writers, _delivery(2))  # inside the window: held, as after any big flush
    await asyncio.sleep(0)
    assert writes == [[d.line], [d.line]]
    assert writers[0].pending()
    for w, p in zip(writers, peers, strict=True):
        w.close()
        p.close()


async def test_a_message_rendered_per_group_is_noted_once_and_keeps_order_after_it() -> None:
    """`fan_lines` (IRC: lines per cap set): each group's bytes to its writers in one loop;
    a write after it spreads it first; a write to a writer of no group before it (`apart`)
    still lets it be noted."""
    flushes = FlushQueue()
    writers, writes, peers = await _fanned(4, flushes)
    a, b, other, sender = writers
    flushes.fan_lines([(b"plain\r\n", [a]), (b"@time=x plain\r\n", [b, other])])
    assert flushes.dirty == [] and writes == [[], [], [], []]
    other.write(b"notice\r\n")  # after it: the noted lines first, one write
    await asyncio.sleep(0)
    assert writes[0] == [b"plain\r\n"] and writes[1] == [b"@time=x plain\r\n"]
    assert writes[2] == [b"@time=x plain\r\nnotice\r\n"]
    sender.write(b"echo\r\n")  # the sender's own, written before the rest is noted
    flushes.fan_lines([(b"two\r\n", [a, b, other])], apart=True)
    assert flushes.dirty == [sender] and writes[0] == [b"plain\r\n"]  # noted, not queued
    await asyncio.sleep(0)
    assert writes[3] == [b"echo\r\n"] and all(w[-1] == b"two\r\n" for w in writes[:3])
    for w, p in zip(writers, peers, strict=True):
        w.close()
        p.close()
