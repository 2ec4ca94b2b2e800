"""Bounded, coalesced output for stream doors (telnet, IRC): writes made during one turn of
the event loop leave in one `transport.write` at the end of that turn, in order, so a burst of
messages to a busy client costs one syscall instead of one per line (as InspIRCd does), and a
lone message still leaves at once (no timer). Output is bounded: a client whose unsent bytes
pass the limit is dropped, never waited for, so one slow reader cannot stall anyone else.

Under a broadcast load (a steady stream of messages to a big room) one write per turn is still
one `send()` per client per message. With a flush window (`window` > 0), a flush right after a
big one (to at least `big` writers) waits until `window` seconds after it, so each client gets
the messages of that window in one write, as InspIRCd's output does; a quiet server, or one
with small flushes only, still writes at the end of the turn. As Nagle sends a full segment at
once, a hold ends early (at the end of the turn) once a held writer has `batch` bytes queued:
a fast sender then gets a write per batch instead of one per window.

The fan-out's write to a plain TCP client whose transport holds nothing unsent goes to the
socket itself (`os.write` on its descriptor): what `transport.write` would do first anyway,
without the transport's call, checks and buffer bookkeeping per delivery (~0.1 µs of ~0.7 on a
socket pair: bench/JOURNAL.md, `steadycpu`). Whatever the kernel does not take is handed to
the transport, which then holds it, and the writer goes back to the transport until that is
sent: the order of the bytes and the byte limit stay the transport's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Callable, Sequence

from torbit.core.delivery import Delivery, Run
from torbit.frontends.handshake import held_under


def _nothing() -> None:
    pass


# Transports that write a plain socket, and write nothing but what they are given: a TLS one
# (or any wrapper) must never be written around. Named, not imported: uvloop is optional here.
_PLAIN = frozenset(
    {
        ("uvloop.loop", "TCPTransport"),
        ("uvloop.loop", "UnixTransport"),
        ("asyncio.selector_events", "_SelectorSocketTransport"),
    }
)


def reset(transport: asyncio.Transport) -> None:
    """Abort the transport with a reset (SO_LINGER 0 first). A plain close of a client that
    reads nothing leaves the kernel holding what it queued, up to its autotuned send buffer (4
    MB on Linux; 2.8 MB queued against a 256 KB limit in stop 39's probe), in an orphan socket
    that probes the client's shut window while the client keeps its end; a reset frees it.
    A transport aborted already is left as it is: uvloop's socket of one raises ValueError
    (a WebSocket dropped for not reading, aborted when its close timed out, logged a
    traceback when its second cut came due)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


# Milliseconds a client's socket may hold output the client does not take (unacknowledged, or
# its window shut) before the kernel aborts it (TCP_USER_TIMEOUT, Linux), once our side has
# closed: a graceful close with output the client never reads leaves an orphan socket the
# door counts no more, kept by the kernel for as long as the client keeps its window shut
# (150 from one address held 220 MB in stop 47's probe, every door, none cut after minutes).
# A client that reads, however slowly, opens its window and starts the count again. Not set
# on a live line door's or WebSocket's socket: a client that stops reading there is dropped
# by the door, with its reason in the log.
USER_TIMEOUT_MS = 30_000


def bound_unread(transport: asyncio.BaseTransport, ms: int = USER_TIMEOUT_MS) -> None:
    """Set the socket's TCP_USER_TIMEOUT (0: the kernel's default, none), before our side of
    the connection closes, or for HTTP from the start."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        with contextlib.suppress(OSError, ValueError):  # gone already: nothing to hold
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, ms)


def tune_socket(
    transport: asyncio.BaseTransport, *, nodelay: bool, send_buffer: int, receive_buffer: int
) -> None:
    """Set what a door asks of a client's TCP socket (every door's: the line doors', HTTP's
    and so WebSockets').

    `nodelay` False turns Nagle's algorithm back on (asyncio and uvloop set TCP_NODELAY on
    every TCP socket): a write to a client with output still unacknowledged waits for its ACK
    and leaves with whatever follows, so a busy reader gets a room's lines in fewer segments,
    and the kernel's loopback and TCP work per delivery (3/4 of the server's CPU) shrinks. A
    lone line still leaves at once. InspIRCd leaves it on too. Steady 1 -> 1,000 here: TCP
    data segments per delivery 0.96 -> 0.73 (InspIRCd 0.68), CPU per delivery -34 % (telnet)
    and -24 % (IRC), p99 22 -> 36 ms (InspIRCd 33); docs/benchmarks.md, "Nagle's algorithm".

    `send_buffer` (bytes, 0: leave it) caps the kernel's send buffer, which Linux otherwise
    autotunes up to net.ipv4.tcp_wmem's max (4 MB) for a client that stops reading: that much
    kernel memory per idle attacker beside the door's own byte limit, which it reaches only once
    the kernel's is full (the readers drill's stuck readers: dropped after 77 s autotuned, 11.6
    s at 128 KiB). Linux doubles the value for its bookkeeping.

    `receive_buffer` does the same for what the kernel takes in while the door has paused
    reading a client that sends too fast (limits.input_rate): autotuned, a flooder's socket held
    1 MB unread in a probe, 0.26 MB at 128 KiB. A client's input still arrives in full, as the
    door reads it."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):  # the client is gone already: its session sees it next
        if not nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        if send_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)


def plain_socket(transport: asyncio.BaseTransport) -> int:
    """The descriptor of the plain socket under `transport`, or -1 (TLS, or unknown)."""
    kind = type(transport)
    if (kind.__module__, kind.__name__) not in _PLAIN:
        return -1
    if transport.get_extra_info("ssl_object") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    return -1 if sock is None else int(sock.fileno())


class FlushQueue:
    """The writers with output pending in this loop turn, flushed by a single callback. The
    per-delivery path (`TransportWriter.write`) and the flush are written out inline: at
    100,000 deliveries/s every Python call per delivery shows in the profile.

    `window` (seconds, 0: off) and `big` (writers): after a flush to at least `big` writers,
    the next flush is held until `window` after it ended (one timer for the whole queue, the
    flush itself). A writer's `flush` and `close` (so a shutdown), and its byte limit, still
    write at once; a writer with `batch` bytes queued ends the hold at the end of the turn.

    `trip` is the queued size at which a writer leaves its one-compare path: `batch` with a
    window, else never (the byte limit alone, as without a window)."""

    __slots__ = ("_big", "_big_until", "_loop", "_timer", "_window", "dirty", "fanned", "trip")

    def __init__(self, window: float = 0.0, big: int = 64, batch: int = 2048) -> None:
        self.dirty: list[TransportWriter] = []
        # the turn's one message to many writers, not yet in their queues (`fan`): its bytes
        # and their writers, one pair per distinct rendering (no writer in two), or None
        self.fanned: list[tuple[bytes, Sequence[TransportWriter]]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._window = window
        self._big = big
        self._big_until = 0.0  # loop time until which a flush is held (last big flush + window)
        self._timer: asyncio.TimerHandle | None = None  # the held flush, while one is
        self.trip = batch if window > 0 else 1 << 62

    def add(self, writer: TransportWriter) -> None:
        if self.fanned is not None:
            self.spread()
        if not self.dirty:
            self.schedule()
        self.dirty.append(writer)

    def schedule(self) -> None:
        """Flush at the end of this turn (called when the first writer becomes dirty), or,
        right after a big flush, once its window is over."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if self._big_until and loop.time() < self._big_until:
            self._timer = loop.call_at(self._big_until, self._flush)
        else:
            loop.call_soon(self._flush)

    def fan(self, writers: Sequence[TransportWriter], delivery: Delivery) -> None:
        """`deliver(delivery)` to each of `writers`, in one call. When nothing else is queued
        this turn it is only noted, and `_flush` writes it with one loop (no Python call or
        queue entry per writer); otherwise, or for a line long enough to trip a writer, each
        writer takes it as `deliver` would (`fan_lines`, one group)."""
        self.fan_lines([(delivery.line, writers)])

    def fan_run(self, writers: Sequence[TransportWriter], run: Run) -> None:
        """`fan` of a run of messages (`Hub.dispatch_run`): its lines, joined once."""
        self.fan_lines([(run.lines, writers)])

    def fan_lines(
        self, groups: list[tuple[bytes, Sequence[TransportWriter]]], *, apart: bool = False
    ) -> None:
        """`fan` of one message that a door renders per kind of reader (IRC, per cap set):
        each group's bytes to its writers, no writer in two groups. Noted (the caller's list
        is kept; `_flush` writes it with one loop), or written writer by writer. `apart`:
        what is queued this turn went to writers in none of the groups (the caller saw the
        queue empty before it wrote to others): noted all the same, `_flush` writes both."""
        if (
            self.fanned is None
            and (apart or not self.dirty)
            and all(len(data) < self.trip and len(data) < 4096 for data, _ in groups)
        ):
            self.fanned = groups
            if not self.dirty:
                self.schedule()
            return
        for data, writers in groups:
            for w in writers:
                w.write(data)

    def spread(self) -> None:
        """Something else is written this turn: the noted message goes into its writers'
        queues first (it was written before), so each writer's output stays in order and
        leaves in one write."""
        fanned = self.fanned
        if fanned is None:
            return
        self.fanned = None
        dirty = self.dirty
        for data, writers in fanned:
            for w in writers:
                if w.transport is None:
                    continue
                pending = w._pending
                if pending is None:
                    w._pending = data
                    w._queued = len(data)
                    dirty.append(w)
                else:  # not expected (noted only when nothing was queued), but never lost
                    if isinstance(pending, bytes):
                        w._pending = [pending, data]
                    else:
                        pending.append(data)
                    w._queued += len(data)

    def release(self) -> None:
        """A writer has a batch queued: if the queue is held, flush it all at the end of this
        turn instead of at the window's end (the fan-out under way finishes first)."""
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """What was queued in the turn, then the noted message (noted only when nothing was
        queued to its writers; anything written after it spread it into the queues)."""
        self._timer = None
        # both taken first: a drop below may write to others, which then goes to the next
        # flush, after this one's message (as it was written after it)
        dirty, self.dirty = self.dirty, []
        fanned, self.fanned = self.fanned, None
        for w in dirty:
            pending = w._pending
            if pending is None:
                continue
            w._pending = None
            w._queued = 0  # as `flush`: no count kept between turns by an idle writer
            t = w.transport
            if t is None or t.is_closing():
                continue
            t.write(pending if isinstance(pending, bytes) else b"".join(pending))
            waiting = t.get_write_buffer_size()
            if waiting > w._limit:
                w._overflow(t)
            else:
                w._fd = -1 if waiting else w._socket
        written = len(dirty)
        if fanned is not None:  # one message to many writers: one loop, no queue
            write = os.write
            for data, writers in fanned:
                size = len(data)
                for w in writers:
                    fd = w._fd
                    if fd >= 0:  # open, plain, nothing unsent: straight to the socket
                        try:
                            sent = write(fd, data)
                        except OSError:  # full (EAGAIN) or broken: the transport says
                            sent = 0
                        if sent == size:
                            continue
                        w._fd = -1  # the rest waits in the transport, in order
                        w._transport_write(data[sent:] if sent else data)
                        continue
                    t = w.transport
                    if t is None or t.is_closing():
                        continue
                    t.write(data)
                    waiting = t.get_write_buffer_size()
                    if waiting > w._limit:
                        w._overflow(t)
                    elif not waiting:
                        w._fd = w._socket  # what it held is sent: straight again
                written += len(writers)
        if self._window:
            self._held_after(written)

    def _held_after(self, writers: int) -> None:
        """A flush to this many writers ended: hold the next one if it was big."""
        if writers >= self._big:
            assert self._loop is not None
            self._big_until = self._loop.time() + self._window
        else:
            self._big_until = 0.0


class TransportWriter:
    """One client's output. `on_overflow` is called once when the client falls too far behind
    (the caller logs and counts it); the transport is then aborted, or with `abort=False`
    only written to no more (the WebSocket door still sends its close frame)."""

    __slots__ = (
        "_abort",
        "_fd",
        "_flushes",
        "_limit",
        "_on_overflow",
        "_pending",
        "_queued",
        "_socket",
        "_trip",
        "tls",
        "transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        limit: int,
        flushes: FlushQueue,
        on_overflow: Callable[[], None],
        *,
        abort: bool = True,
        direct: bool = False,
    ) -> None:
        self.transport: asyncio.Transport | None = transport
        self._abort = abort
        self._limit = limit
        self._flushes = flushes
        self._on_overflow = on_overflow
        # what this turn wrote so far: one bytes as it is (most turns: no list to make and for
        # the collector to track, per delivery), a list from the second; an idle client: None
        self._pending: bytes | list[bytes] | None = None
        self._queued = 0
        # the one compare per delivery: the byte limit, or first a held queue's batch
        self._trip = min(limit, flushes.trip)
        # `direct`: the fan-out may write the socket itself (module docstring). `_socket` is
        # its descriptor while the writer is open (-1: never, or no more); `_fd` the same
        # while the transport also holds nothing unsent, else -1. Every close, abort and loss
        # goes through this writer and sets both to -1 first: a descriptor is closed (and
        # may be another client's next) only after the connection is lost.
        self._socket = plain_socket(transport) if direct else -1
        self._fd = self._socket
        self.tls = transport.get_extra_info("ssl_object") is not None  # asked once: ~0.2 µs

    def write(self, data: bytes) -> None:
        pending = self._pending
        if pending is not None:
            if isinstance(pending, bytes):
                self._pending = [pending, data]
            else:
                pending.append(data)
            self._queued += len(data)
            if self._queued >= self._trip:  # a batch, or a big burst: see `_full`
                self._full()
            return
        if self.transport is None:
            return
        flushes = self._flushes
        if flushes.fanned is not None:
            flushes.spread()
            if self._pending is not None:  # it had the noted message: append after it
                self.write(data)
                return
        self._pending = data
        self._queued = len(data)
        dirty = flushes.dirty
        if not dirty:
            flushes.schedule()
        dirty.append(self)
        if len(data) >= self._trip:
            self._full()

    def deliver(self, delivery: Delivery) -> None:
        """`write(delivery.line)`, spelled out: a telnet session's `deliver` is bound to this,
        so a delivery costs one Python call here instead of three."""
        pending = self._pending
        if pending is not None:
            if isinstance(pending, bytes):
                self._pending = [pending, delivery.line]
            else:
                pending.append(delivery.line)
            self._queued += len(delivery.line)
            if self._queued >= self._trip:
                self._full()
            return
        if self.transport is None:
            return
        data = delivery.line
        flushes = self._flushes
        if flushes.fanned is not None:
            flushes.spread()
            if self._pending is not None:  # it had the noted message: append after it
                self.write(data)
                return
        self._pending = data
        self._queued = len(data)
        dirty = flushes.dirty
        if not dirty:
            flushes.schedule()
        dirty.append(self)
        if len(data) >= self._trip:
            self._full()

    def flush(self) -> None:
        """Write what is pending; only the transport's own backlog (bytes the client has not
        taken) counts against the limit."""
        if self._flushes.fanned is not None:
            self._flushes.spread()
        pending, self._pending = self._pending, None
        self._queued = 0  # a count past 256 is an int object kept by an idle client
        t = self.transport
        if pending is None or t is None or t.is_closing():
            return
        self._transport_write(pending if isinstance(pending, bytes) else b"".join(pending))

    def _transport_write(self, data: bytes) -> None:
        """`data` through the transport (it keeps what the socket does not take); past the
        byte limit the client is dropped, and with nothing unsent the socket is written
        straight again."""
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(data)
        waiting = t.get_write_buffer_size()
        if waiting > self._limit:
            self._overflow(t)
        else:
            self._fd = -1 if waiting else self._socket

    def _full(self) -> None:
        """Queued bytes reached `_trip`: past the byte limit, hand them to the transport now (a
        big burst); else a batch: end the queue's hold, if it is held."""
        if self._queued >= self._limit:
            self.flush()
        else:
            self._flushes.release()

    def pending(self) -> bool:
        """Output not yet taken by the client (for a graceful shutdown)."""
        if self._flushes.fanned is not None:
            self._flushes.spread()
        t = self.transport
        return (
            t is not None
            and not t.is_closing()
            and (self._pending is not None or t.get_write_buffer_size() > 0)
        )

    def close(self) -> None:
        """Flush what is pending, then close the transport."""
        self.flush()
        self._socket = self._fd = -1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def cut(self) -> None:
        """Abort the connection now: what is queued is dropped (a shutdown)."""
        self._socket = self._fd = -1
        if self.transport is not None:
            reset(self.transport)

    def unsent(self) -> bool:
        """Output given and not sent yet (here, in the transport, or under a TLS transport
        of ours: `held_under`): a session that ends now did not show it."""
        t = self.transport
        if self._pending is not None or t is None:
            return self._pending is not None
        return t.get_write_buffer_size() > 0 or (self.tls and held_under(t) > 0)

    def lost(self) -> None:
        """The connection is gone: hold nothing (no cycle through the session's callback, so
        the session is freed as soon as its door forgets it, not by the cycle collector)."""
        self._socket = self._fd = -1
        self.transport, self._pending, self._on_overflow = None, None, _nothing

    def _overflow(self, t: asyncio.Transport) -> None:
        self._socket = self._fd = -1
        self._pending = None
        if t.is_closing():
            return
        if not self._abort:
            self.transport = None
        self._on_overflow()
        if self._abort:
            reset(t)  # what the kernel holds for it goes too, not only what the writer holds
