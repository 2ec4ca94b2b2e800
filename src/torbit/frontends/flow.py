"""Bounded, coalesced output for stream doors (telnet, IRC): writes made during one turn of
the event loop leave in one `transport.write` at the end of that turn, in order, so a burst of
messages to a busy client costs one syscall instead of one per line (as InspIRCd does), and a
lone message still leaves at once (no timer). Output is bounded: a client whose unsent bytes
pass the limit is dropped, never waited for, so one slow reader cannot stall anyone else."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class FlushQueue:
    """The writers with output pending in this loop turn, flushed by a single callback."""

    __slots__ = ("_dirty", "_loop")

    def __init__(self) -> None:
        self._dirty: list[TransportWriter] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, writer: TransportWriter) -> None:
        if not self._dirty:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self._flush)
        self._dirty.append(writer)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for writer in dirty:
            writer.flush()


class TransportWriter:
    """One client's output. `on_overflow` is called once when the client falls too far behind
    (the caller logs and counts it); the transport is then aborted."""

    __slots__ = ("_flushes", "_limit", "_on_overflow", "_pending", "_queued", "transport")

    def __init__(
        self,
        transport: asyncio.Transport,
        limit: int,
        flushes: FlushQueue,
        on_overflow: Callable[[], None],
    ) -> None:
        self.transport: asyncio.Transport | None = transport
        self._limit = limit
        self._flushes = flushes
        self._on_overflow = on_overflow
        self._pending: list[bytes] | None = None  # created lazily: an idle client has none
        self._queued = 0

    def write(self, data: bytes) -> None:
        if self.transport is None:
            return
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._queued = len(data)
            self._flushes.add(self)
        else:
            pending.append(data)
            self._queued += len(data)
        if self._queued >= self._limit:  # a big burst: hand it to the transport now
            self.flush()

    def flush(self) -> None:
        """Write what is pending; only the transport's own backlog (bytes the client has not
        taken) counts against the limit."""
        pending, self._pending = self._pending, None
        t = self.transport
        if pending is None or t is None or t.is_closing():
            return
        t.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if t.get_write_buffer_size() > self._limit:
            self._overflow(t)

    def pending(self) -> bool:
        """Output not yet taken by the client (for a graceful shutdown)."""
        t = self.transport
        return (
            t is not None
            and not t.is_closing()
            and (self._pending is not None or t.get_write_buffer_size() > 0)
        )

    def close(self) -> None:
        """Flush what is pending, then close the transport."""
        self.flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def lost(self) -> None:
        self.transport = None
        self._pending = None

    def _overflow(self, t: asyncio.Transport) -> None:
        self._pending = None
        if t.is_closing():
            return
        self._on_overflow()
        t.abort()
