"""Load generator for the telnet front door: many cheap telnet users in one asyncio + uvloop
process, and the three measurements built from them (fan-out, idle, durable throughput).

On two cores the generator competes with the server for CPU, so every byte path is lean:
clients are Protocols (no StreamReader), lines are split with `bytes.split`, and only the
fields a measurement needs are parsed. A message's text is `SEQ SEND_NS`: its sequence number
and `time.monotonic_ns()` at sending, so a receiver on the same machine gets the latency from one
`rsplit` and two `int`s.

It works against any server that speaks torbit's telnet login dialog (reference_server.py
speaks a shortened one). Run standalone against a server already running:

    python bench/loadgen.py fanout --port 5000 --pid 1234 --receivers 1000 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar, cast

import uvloop

from procstat import (
    cpu_seconds,
    machine_cpu_seconds,
    raise_open_files_limit,
    rss_bytes,
    settle,
)

HOST = "127.0.0.1"
PASSWORD = "bench-password"

IAC, SB, SE = 255, 250, 240
NEGOTIATION = frozenset({251, 252, 253, 254})  # WILL WONT DO DONT: followed by one option byte


class LoginFailed(Exception):
    """The server refused the login dialog or closed the connection during it."""


class TelnetStrip:
    """Removes telnet commands from a byte stream, even when one is split across chunks. Text
    without 0xFF (all valid UTF-8) passes through untouched, so the steady state costs a memchr."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = 0  # 0 text, 1 after IAC, 2 option byte, 3 in SB, 4 IAC inside SB

    def feed(self, data: bytes) -> bytes:
        if self.state == 0 and IAC not in data:
            return data
        out = bytearray()
        st = self.state
        for b in data:
            if st == 0:
                if b == IAC:
                    st = 1
                else:
                    out.append(b)
            elif st == 1:
                if b == IAC:
                    out.append(b)
                    st = 0
                else:
                    st = 2 if b in NEGOTIATION else 3 if b == SB else 0
            elif st == 2:
                st = 0
            elif st == 3:
                st = 4 if b == IAC else 3
            else:
                st = 0 if b == SE else 3
        self.state = st
        return bytes(out)


class Client(asyncio.Protocol):
    """One telnet user. Logs in (registering the name on first use), joins `room` if given, then
    hands every received chunk to `received`. `ready` resolves once it is in its room."""

    transport: asyncio.Transport

    def __init__(self, name: str, room: str | None = None, password: str = PASSWORD) -> None:
        self.name = name
        self.room = room
        self.password = password
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.live = False
        self.lost = False
        self.bytes_received = 0
        self.ready_at = 0.0
        self._telnet = TelnetStrip()
        self._pending = b""  # login text after the last newline: where prompts show up
        self._welcomed = False
        self._joining = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._telnet.state or IAC in data:
            data = self._telnet.feed(data)
        if self.live:
            self.received(data)
        else:
            self._login(data)

    def received(self, data: bytes) -> None:
        """After login: the default user only counts bytes (an idle user)."""
        self.bytes_received += len(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(LoginFailed(f"{self.name}: connection closed during login"))

    def close(self) -> None:
        if not self.lost and hasattr(self, "transport"):
            self.transport.abort()

    # the login dialog

    def _login(self, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n")
        tail = lines.pop()
        for i, raw in enumerate(lines):
            line = raw.rstrip(b"\r")
            if line.startswith(b"! "):
                self._fail(line)
                return
            if not self._welcomed:
                self._welcomed = b"Welcome" in line
            elif line.startswith(b"* you are in #"):
                here = line[14:].split(b" ", 1)[0].lower()
                if self.room is None or here == self.room.lower().encode():
                    self.live = True
                    self.ready_at = time.monotonic()
                    if not self.ready.done():  # done: the login was given up on (timeout)
                        self.ready.set_result(None)
                    rest = b"\n".join([*lines[i + 1 :], tail])
                    if rest:
                        self.received(rest)
                    return
                if not self._joining:
                    self._joining = True
                    self.transport.write(b"/join %s\r\n" % self.room.encode())
        self._pending = b"" if self._prompt(tail) else tail

    def _prompt(self, tail: bytes) -> bool:
        """Answer a prompt (text without a newline yet). Every password prompt — choose, repeat,
        or log in — takes the same password."""
        t = tail.rstrip()
        if t.endswith(b"Name:"):
            self.transport.write(self.name.encode() + b"\r\n")
        elif t.lower().endswith(b"password:"):
            self.transport.write(self.password.encode() + b"\r\n")
        else:
            return False
        return True

    def _fail(self, line: bytes) -> None:
        if not self.ready.done():
            self.ready.set_exception(LoginFailed(f"{self.name}: {line.decode(errors='replace')}"))
        self.transport.abort()


C = TypeVar("C", bound=Client)


async def login(port: int, make: Callable[[], C], *, max_wait: float = 60.0) -> C:
    """Connect and log one user in. A refused or reset connect (accept backlog overrun) is
    retried; a refused login is not."""
    loop = asyncio.get_running_loop()
    for attempt in range(5):
        try:
            _t, client = await loop.create_connection(make, HOST, port)
            break
        except OSError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2 * 2**attempt)
    try:
        await asyncio.wait_for(client.ready, max_wait)
    except TimeoutError:
        client.close()
        raise LoginFailed(f"{client.name}: no login within {max_wait:g} s") from None
    return client


@dataclass(frozen=True)
class Logins:
    """How many login dialogs run at once (so the accept backlog and the server's password
    hashing are not swamped), and how long one may take before the run is given up."""

    concurrency: int = 200
    max_wait: float = 60.0


async def login_many(
    port: int, makers: Sequence[Callable[[], C]], out: list[Client], logins: Logins
) -> list[C]:
    """Log many users in, `logins.concurrency` dialogs at once. Every connected client is also
    appended to `out`, so the caller can close them even when a later login fails."""
    done: list[C | None] = [None] * len(makers)
    todo = iter(enumerate(makers))

    async def worker() -> None:
        for i, make in todo:
            c = await login(port, make, max_wait=logins.max_wait)
            out.append(c)
            done[i] = c

    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(min(logins.concurrency, len(makers))):
                tg.create_task(worker())
    except ExceptionGroup as eg:  # the first failure says what went wrong; the rest repeat it
        raise eg.exceptions[0] from None
    return [c for c in done if c is not None]


def percentile_ms(sorted_ns: Sequence[int], q: float) -> float | None:
    if not sorted_ns:
        return None
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1e6


class Window:
    """When measuring, one server's CPU and the generator's own over the same wall-clock span."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seconds = self.server_cpu = self.gen_cpu = 0.0

    def start(self) -> None:
        self._t = time.monotonic()
        self._s = cpu_seconds(self.pid)
        self._g = cpu_seconds(os.getpid())
        self._m = machine_cpu_seconds()

    def stop(self) -> None:
        self.seconds = time.monotonic() - self._t
        self.server_cpu = cpu_seconds(self.pid) - self._s
        self.gen_cpu = cpu_seconds(os.getpid()) - self._g
        busy, total = machine_cpu_seconds()
        self.machine_busy = (busy - self._m[0]) / max(total - self._m[1], 1e-9)
        self.other_cpu = busy - self._m[0] - self.server_cpu - self.gen_cpu

    def report(self) -> dict[str, float]:
        """Utilisations are in cores (1.0 = one core busy), except machine_busy (all cores).
        other_cpu_util is load on the machine that is neither the server nor the generator:
        kernel network work, and on a shared machine, other people's jobs."""
        return {
            "seconds": round(self.seconds, 3),
            "server_cpu_s": round(self.server_cpu, 3),
            "server_cpu_util": round(self.server_cpu / self.seconds, 3),
            "gen_cpu_util": round(self.gen_cpu / self.seconds, 3),
            "other_cpu_util": round(max(self.other_cpu, 0.0) / self.seconds, 3),
            "machine_busy": round(self.machine_busy, 3),
        }


async def wait_for_count(count: Callable[[], int], target: int, *, idle: float = 2.0) -> None:
    """Wait until count() reaches target, or stops growing for `idle` seconds."""
    last, still = -1, 0.0
    while (n := count()) < target and still < idle:
        still = still + 0.05 if n == last else 0.0
        last = n
        await asyncio.sleep(0.05)


# fan-out: one room, a few senders at a fixed rate, many receivers


@dataclass
class Tally:
    """Deliveries seen by all receivers. Only sequence numbers in [lo, hi) count, so warm-up
    and drain traffic is ignored."""

    lo: int = 1 << 62
    hi: int = 1 << 62
    received: int = 0
    latencies_ns: list[int] = field(default_factory=list)


class Receiver(Client):
    """Counts the measured messages it receives and their send→receive latency."""

    def __init__(self, name: str, tally: Tally, room: str | None = None) -> None:
        super().__init__(name, room)
        self.tally = tally
        self._buf = b""

    def received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if self._buf:
            data = self._buf + data
        lines = data.split(b"\r\n")
        self._buf = lines.pop()
        t = self.tally
        lo, hi, lat, n = t.lo, t.hi, t.latencies_ns, 0
        for line in lines:
            if line[:1] != b"[":
                continue  # "* bob joined #lobby" and other system lines
            try:
                _, seq, sent = line.rsplit(b" ", 2)
                s = int(seq)
                if lo <= s < hi:
                    n += 1
                    lat.append(now - int(sent))
            except ValueError:
                continue  # someone else's message
        t.received += n


class Feed:
    """Sends `rate` numbered messages per second in total, round-robin over the senders, on an
    absolute schedule (a late wake-up sends what is due, it does not slow the rate down)."""

    def __init__(self, senders: Sequence[Client], rate: float) -> None:
        self.senders = senders
        self.rate = rate
        self.seq = 0
        self._running = True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        senders, rate, k = self.senders, self.rate, len(self.senders)
        start, sent = loop.time(), 0
        while self._running:
            due = int((loop.time() - start) * rate) + 1 - sent
            for _ in range(due):
                seq = self.seq
                senders[seq % k].transport.write(b"%d %d\r\n" % (seq, time.monotonic_ns()))
                self.seq = seq + 1
            sent += max(due, 0)
            await asyncio.sleep(max(0.0, sent / rate - (loop.time() - start)))

    def stop(self) -> None:
        self._running = False


async def measure_fanout(
    port: int,
    pid: int,
    clients: list[Client],
    *,
    receivers: int = 1000,
    rate: float = 100.0,
    seconds: float = 10.0,
    warmup: float = 3.0,
    senders: int = 1,
    logins: Logins = Logins(),
) -> dict[str, object]:
    """`senders` users send `rate` messages/s in total to the room all `receivers` listen to."""
    tally = Tally()
    t0 = time.monotonic()
    rx = await login_many(
        port, [partial(Receiver, f"r{i:05d}", tally) for i in range(receivers)], clients, logins
    )
    tx = await login_many(
        port, [partial(Client, f"s{i:03d}") for i in range(senders)], clients, logins
    )
    login_s = time.monotonic() - t0
    await settle(pid)
    gc.collect()
    gc.freeze()  # thousands of long-lived protocol objects: keep them out of GC passes
    try:
        feed = Feed(tx, rate)
        task = asyncio.create_task(feed.run())
        await asyncio.sleep(warmup)
        w = Window(pid)
        w.start()
        tally.lo = feed.seq
        await asyncio.sleep(seconds)
        tally.hi = feed.seq
        w.stop()
        feed.stop()
        await task
        sent = tally.hi - tally.lo
        expected = sent * receivers
        await wait_for_count(lambda: tally.received, expected)
        lat = sorted(tally.latencies_ns)
        return {
            "receivers": receivers,
            "senders": senders,
            "rate": rate,
            "login_s": round(login_s, 2),
            "sent": sent,
            "sent_per_s": round(sent / w.seconds, 1),
            "expected": expected,
            "received": tally.received,
            "loss": expected - tally.received,
            "dropped_receivers": sum(r.lost for r in rx),
            "deliveries_per_s": round(tally.received / w.seconds, 1),
            "cpu_us_per_delivery": round(w.server_cpu / max(tally.received, 1) * 1e6, 4),
            "p50_ms": percentile_ms(lat, 0.50),
            "p99_ms": percentile_ms(lat, 0.99),
            "max_ms": lat[-1] / 1e6 if lat else None,
            "rss_mb": round(rss_bytes(pid) / 2**20, 1),
            **w.report(),
        }
    finally:
        gc.unfreeze()


# idle: many logged-in users doing nothing


async def measure_idle(
    port: int,
    pid: int,
    clients: list[Client],
    *,
    connections: int = 10_000,
    logins: Logins = Logins(),
) -> dict[str, object]:
    """Server memory per logged-in idle connection: (RSS with N − RSS with none) / N. RSS is
    also read at N/2: the second half's slope leaves out one-time costs (caches, pools, allocator
    arenas warming up) that the first connections pay and that dominate at small N."""
    await settle(pid)
    rss0 = rss_bytes(pid)
    makers = [partial(Client, f"i{i:05d}") for i in range(connections)]
    half = connections // 2
    t0 = time.monotonic()
    idle = await login_many(port, makers[:half], clients, logins)
    login_s = time.monotonic() - t0
    await settle(pid, max_wait=300)
    rss_half = rss_bytes(pid)
    t1 = time.monotonic()
    idle += await login_many(port, makers[half:], clients, logins)
    login_s += time.monotonic() - t1
    done = sorted(c.ready_at for c in idle)
    tenth = max(len(done) // 10, 2)
    settle_s = await settle(pid, max_wait=300)  # joins are announced to everyone: let that finish
    rss1 = rss_bytes(pid)
    return {
        "connections": connections,
        "alive": sum(not c.lost for c in idle),
        "login_s": round(login_s, 2),
        "logins_per_s": round(connections / login_s, 1),
        # does logging in slow down as the room fills? (joins are announced to everyone)
        "logins_per_s_first_tenth": round((tenth - 1) / max(done[tenth - 1] - done[0], 1e-9), 1),
        "logins_per_s_last_tenth": round((tenth - 1) / max(done[-1] - done[-tenth], 1e-9), 1),
        "settle_s": round(settle_s, 2),
        "received_mb": round(sum(c.bytes_received for c in idle) / 2**20, 1),
        "rss_start_mb": round(rss0 / 2**20, 1),
        "rss_half_mb": round(rss_half / 2**20, 1),
        "rss_connected_mb": round(rss1 / 2**20, 1),
        "kb_per_conn": round((rss1 - rss0) / connections / 1024, 3),
        "kb_per_conn_second_half": round((rss1 - rss_half) / (connections - half) / 1024, 3),
    }


# durable throughput: each sender alone in its room, a window of unacknowledged messages


@dataclass
class EchoTally:
    sending: bool = False
    measuring: bool = False
    committed: int = 0
    errors: int = 0
    latencies_ns: list[int] = field(default_factory=list)


class Pipeliner(Client):
    """Keeps `window` messages in flight: each echo of its own message (sent only once the
    message is durable) lets one more go."""

    def __init__(self, name: str, room: str, tally: EchoTally, window: int) -> None:
        super().__init__(name, room)
        self.tally = tally
        self.window = window
        self.in_flight = 0
        self.seq = 0
        self._buf = b""

    def pump(self) -> None:
        n = self.window - self.in_flight
        if n <= 0 or not self.tally.sending or self.lost:
            return
        now, seq = time.monotonic_ns(), self.seq
        self.transport.write(b"".join(b"%d %d\r\n" % (seq + i, now) for i in range(n)))
        self.seq = seq + n
        self.in_flight += n

    def received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if self._buf:
            data = self._buf + data
        lines = data.split(b"\r\n")
        self._buf = lines.pop()
        t = self.tally
        echoes = errors = 0
        for line in lines:
            if line[:1] == b"[":
                echoes += 1
                if t.measuring:
                    t.latencies_ns.append(now - int(line.rsplit(b" ", 1)[1]))
            elif line[:2] == b"! ":
                errors += 1  # a refused message is answered too: keep the window moving
        if t.measuring:
            t.committed += echoes
        t.errors += errors
        self.in_flight -= echoes + errors
        self.pump()


async def measure_durable(
    port: int,
    pid: int,
    clients: list[Client],
    *,
    senders: int = 50,
    window: int = 32,
    seconds: float = 10.0,
    warmup: float = 3.0,
    logins: Logins = Logins(),
) -> dict[str, object]:
    """Committed messages/s with `senders` users each pipelining into a room of their own."""
    tally = EchoTally()
    px = await login_many(
        port,
        [partial(Pipeliner, f"d{i:03d}", f"bench{i:03d}", tally, window) for i in range(senders)],
        clients,
        logins,
    )
    await settle(pid)
    tally.sending = True
    for p in px:
        p.pump()
    await asyncio.sleep(warmup)
    w = Window(pid)
    w.start()
    tally.measuring = True
    await asyncio.sleep(seconds)
    tally.measuring = False
    w.stop()
    tally.sending = False
    await wait_for_count(lambda: -sum(p.in_flight for p in px), 0, idle=5.0)
    lat = sorted(tally.latencies_ns)
    return {
        "senders": senders,
        "window": window,
        "committed": tally.committed,
        "committed_per_s": round(tally.committed / w.seconds, 1),
        "cpu_us_per_message": round(w.server_cpu / max(tally.committed, 1) * 1e6, 3),
        "p50_ms": percentile_ms(lat, 0.50),
        "p99_ms": percentile_ms(lat, 0.99),
        "errors": tally.errors,
        "unanswered": sum(p.in_flight for p in px),
        "dropped_senders": sum(p.lost for p in px),
        "rss_mb": round(rss_bytes(pid) / 2**20, 1),
        **w.report(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run one measurement against a running server.")
    p.add_argument("scenario", choices=["fanout", "idle", "durable"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True, help="server process, for CPU and RSS")
    p.add_argument("--receivers", type=int, default=1000)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--senders", type=int, default=50)
    args = p.parse_args(argv)
    raise_open_files_limit()

    async def run() -> dict[str, object]:
        clients: list[Client] = []
        try:
            if args.scenario == "fanout":
                return await measure_fanout(args.port, args.pid, clients, receivers=args.receivers,
                                            rate=args.rate, seconds=args.seconds)
            if args.scenario == "idle":
                return await measure_idle(args.port, args.pid, clients,
                                          connections=args.connections)
            return await measure_durable(args.port, args.pid, clients, senders=args.senders,
                                         seconds=args.seconds)
        finally:
            for c in clients:
                c.close()

    print(json.dumps(uvloop.run(run()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
