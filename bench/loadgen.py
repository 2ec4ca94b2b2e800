"""The message measurements: a steady fan-out (one sender at a fixed rate, many receivers), a
burst fan-out (the sender keeps a window of messages not yet delivered to everyone) and durable
throughput (senders alone in their rooms, each echo = one committed message). Users come from
users.py, so the same measurement drives any server in any dialect; crowd.py has the
connection-count measurements (logins, idle memory, mass disconnect).

Run one measurement against a server that is already up:

    python bench/loadgen.py fanout --port 5000 --pid 1234 --receivers 1000 --rate 100
    python bench/loadgen.py burst --port 6667 --pid 4321 --dialect irc
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import time
from collections.abc import Callable, MutableSequence, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from time import monotonic_ns
from typing import Any

import uvloop

from procstat import (
    cpu_seconds,
    cpu_split,
    io_counts,
    machine_cpu_seconds,
    raise_open_files_limit,
    rss_bytes,
    settle,
)
from users import DEFAULT_LOGINS, DIALECTS, Logins, User, login_many

Result = dict[str, object]


@dataclass(frozen=True)
class Endpoint:
    """Where a measurement connects, the server process it watches (CPU and RSS from /proc),
    and the dialect users speak there. `on_window(True/False)` is told when the measured part
    starts and ends (a profiler attaches to it)."""

    port: int
    pid: int
    user: type[User]
    on_window: Callable[[bool], None] | None = None

    def window(self, started: bool) -> None:
        if self.on_window is not None:
            self.on_window(started)


def message(seq: int, sent_ns: int | None = None) -> bytes:
    """A measured message's text: `^SEQ SEND_NS` (see users.py); sent now unless told."""
    return b"^%d %d" % (seq, monotonic_ns() if sent_ns is None else sent_ns)


def percentile_ms(sorted_ns: Sequence[int], q: float) -> float | None:
    if not sorted_ns:
        return None
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1e6


class Window:
    """When measuring, one server's CPU and the generator's own over the same wall-clock span:
    this process's, and with `gens` (the pids of the other generator processes, --gen-procs)
    summed over all of them, each one's kept apart too (`gen_cpu_each`)."""

    def __init__(self, ep: Endpoint, gens: Sequence[int] = ()) -> None:
        self.ep = ep
        self.pid = ep.pid
        self.gens = [os.getpid(), *gens]
        self.seconds = self.server_cpu = self.gen_cpu = self.other_cpu = self.machine_busy = 0.0
        self.server_writes = self.server_write_bytes = self.gen_reads = self.gen_read_bytes = 0
        self.gen_user = self.gen_system = 0.0
        self.gen_cpu_each: list[float] = []

    def start(self) -> None:
        self.ep.window(True)
        self._t = time.monotonic()
        self._s = cpu_seconds(self.pid)
        self._g = [cpu_split(g) for g in self.gens]
        self._sio = io_counts(self.pid)
        self._gio = [io_counts(g) for g in self.gens]
        self._m = machine_cpu_seconds()

    def stop(self) -> None:
        self.seconds = time.monotonic() - self._t
        self.server_cpu = cpu_seconds(self.pid) - self._s
        used = [
            (u - u0, s - s0)
            for (u, s), (u0, s0) in zip(map(cpu_split, self.gens), self._g, strict=True)
        ]
        self.gen_user, self.gen_system = sum(u for u, _ in used), sum(s for _, s in used)
        self.gen_cpu_each = [u + s for u, s in used]
        self.gen_cpu = self.gen_user + self.gen_system
        sio = io_counts(self.pid)
        self.server_writes = sio["syscw"] - self._sio["syscw"]
        self.server_write_bytes = sio["wchar"] - self._sio["wchar"]
        gio = [io_counts(g) for g in self.gens]
        self.gen_reads = sum(a["syscr"] - b["syscr"] for a, b in zip(gio, self._gio, strict=True))
        self.gen_read_bytes = sum(
            a["rchar"] - b["rchar"] for a, b in zip(gio, self._gio, strict=True)
        )
        busy, total = machine_cpu_seconds()
        self.machine_busy = (busy - self._m[0]) / max(total - self._m[1], 1e-9)
        self.other_cpu = busy - self._m[0] - self.server_cpu - self.gen_cpu
        self.ep.window(False)

    def report(self) -> dict[str, float]:
        """Utilisations are in cores (1.0 = one core busy), except machine_busy (all cores).
        other_cpu_util is load on the machine that is neither the server nor the generator:
        kernel network work, and on a shared machine, other people's jobs. The server's
        writes and the generator's reads are system calls counted by /proc/PID/io (see
        procstat.io_counts: write/writev and read/readv, not send/recv)."""
        return {
            "seconds": round(self.seconds, 3),
            "server_cpu_s": round(self.server_cpu, 3),
            "server_cpu_util": round(self.server_cpu / self.seconds, 3),
            "gen_cpu_util": round(self.gen_cpu / self.seconds, 3),
            "gen_cpu_s": round(self.gen_cpu, 3),
            "gen_procs": len(self.gens),
            # the busiest generator process: near 1.0 its own lag is in the latencies
            "gen_cpu_util_max": round(max(self.gen_cpu_each, default=0.0) / self.seconds, 3),
            # the generator's own split: user is mostly Python, system its reads and wake-ups
            "gen_user_s": round(self.gen_user, 3),
            "gen_system_s": round(self.gen_system, 3),
            "server_writes": self.server_writes,
            "server_write_bytes": self.server_write_bytes,
            "gen_reads": self.gen_reads,
            "gen_read_bytes": self.gen_read_bytes,
            "other_cpu_util": round(max(self.other_cpu, 0.0) / self.seconds, 3),
            "machine_busy": round(self.machine_busy, 3),
        }


def per_delivery(w: Window, deliveries: int) -> dict[str, float]:
    """What a delivery took of the window beyond the server's CPU: the generator's CPU, and
    the writes (write/writev calls, `/proc/PID/io` syscw) the server made and the reads the
    generator made for it. A generator near a whole core reads late, so its lag is in the
    latencies (stop 61); a server making fewer writes a delivery costs the generator fewer
    reads and wake-ups too."""
    n = max(deliveries, 1)
    return {
        "gen_cpu_us_per_delivery": round(w.gen_cpu / n * 1e6, 4),
        "server_writes_per_delivery": round(w.server_writes / n, 4),
        "server_bytes_per_write": round(w.server_write_bytes / max(w.server_writes, 1), 1),
        "gen_reads_per_delivery": round(w.gen_reads / n, 4),
        "gen_bytes_per_read": round(w.gen_read_bytes / max(w.gen_reads, 1), 1),
    }


async def wait_for_count(
    count: Callable[[], int],
    target: int,
    *,
    progress: Callable[[], int] | None = None,
    idle: float = 2.0,
    cap: float = 180.0,
) -> float:
    """Wait until count() reaches target, or nothing moves for `idle` seconds: progress() if
    given (a server far behind is still delivering older messages), else count() itself; at
    most `cap` seconds. Returns the seconds waited."""
    loop = asyncio.get_running_loop()
    start = last_move = loop.time()
    moved = progress or count
    last = moved()
    while count() < target and loop.time() - last_move < idle and loop.time() - start < cap:
        await asyncio.sleep(0.05)
        if (now := moved()) != last:
            last, last_move = now, loop.time()
    return loop.time() - start


async def crowd_in(
    ep: Endpoint,
    clients: list[User],
    receivers: int,
    room: str,
    sink: Callable[[User, bytes], None],
    logins: Logins,
) -> list[User]:
    """`receivers` users listening in `room`, all feeding one sink, numbered 0..n-1."""
    makers = [partial(ep.user, f"r{i:05d}", room, sink) for i in range(receivers)]
    return await login_many(ep.port, makers, clients, logins)


# steady fan-out: one room, a few senders at a fixed rate, many receivers


class Tally:
    """The sink of every fan-out receiver (`take`): counts the measured messages (sequence
    numbers in [lo, hi), so warm-up and drain traffic is ignored) and their send → receive
    latency. The chunk's arrival time stands for each of its lines; a message's send time is
    the one the Feed stamped into its text, kept by the Feed in `sent_ns` (indexed by
    sequence number), so a receiver parses a line's sequence number only.

    A chunk is most often one line (each server writes each message to each receiver as it
    comes): the `^` are counted and each is found in place, never split into a list (stop 62:
    the generator was near a core in the runs with the worst p99)."""

    def __init__(self) -> None:
        self.lo = self.hi = 1 << 62
        self.received = 0
        self.seen = 0  # messages of any sequence number: is a late server still delivering?
        self.latencies_ns: list[int] = []
        self.sent_ns: list[int] = []

    def take(self, _user: User, lines: bytes) -> None:
        now = monotonic_ns()
        n = lines.count(b"^")
        if not n:
            return  # joins, notices, other people's lines
        self.seen += n
        lo, hi, lat, sent = self.lo, self.hi, self.latencies_ns, self.sent_ns
        got = i = 0
        for _ in range(n):
            i = lines.find(b"^", i) + 1
            j = lines.find(b" ", i)
            if j < 0:
                break  # no `^SEQ SEND_NS` from here on
            try:
                s = int(lines[i:j])
            except ValueError:
                continue  # a `^` in some other line
            if lo <= s < hi:
                got += 1
                lat.append(now - sent[s])
        self.received += got


class Feed:
    """Sends `rate` numbered messages per second in total, round-robin over the senders, on an
    absolute schedule (a late wake-up sends what is due, it does not slow the rate down). Each
    message's send time goes into its text and into `sent_ns` (a Tally's, for its receivers)."""

    def __init__(self, senders: Sequence[User], rate: float, sent_ns: list[int]) -> None:
        self.senders = senders
        self.rate = rate
        self.seq = 0
        self.sent_ns = sent_ns
        self._running = True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        senders, rate, k, stamps = self.senders, self.rate, len(self.senders), self.sent_ns
        start, sent = loop.time(), 0
        while self._running:
            due = int((loop.time() - start) * rate) + 1 - sent
            for _ in range(due):
                seq = self.seq
                now = monotonic_ns()
                stamps.append(now)
                senders[seq % k].say(message(seq, now))
                self.seq = seq + 1
            sent += max(due, 0)
            await asyncio.sleep(max(0.0, sent / rate - (loop.time() - start)))

    def stop(self) -> None:
        self._running = False


# the receivers spread over more than one generator process (--gen-procs): in stop 62 the one
# process sat at 0.85-0.99 of a core reading 100,000 deliveries/s, so its own lag was what p99
# read; a real crowd of 1,000 clients is not one process


def shares(receivers: int, procs: int) -> list[range]:
    """The receivers' numbers each generator process logs in, as even as they go; the first
    share is the sender's own process's."""
    k, extra = divmod(receivers, procs)
    starts = [p * k + min(p, extra) for p in range(procs + 1)]
    return [range(a, b) for a, b in pairwise(starts)]


LO, HI, RECEIVED, SEEN = range(4)  # a share's slots in memory shared with the sender's process
NEVER = 1 << 62


class ShareTally(Tally):
    """The Tally of a generator process without the sender: the window's [lo, hi) come from
    the sender's process through shared memory (`slots`, set as it sets its own Tally's) and
    the counts go back through it; a message's send time is read from its text, as
    CLOCK_MONOTONIC is one clock for every process of the machine."""

    def __init__(self, slots: MutableSequence[int]) -> None:
        super().__init__()
        self.slots = slots

    def take(self, _user: User, lines: bytes) -> None:
        now = monotonic_ns()
        n = lines.count(b"^")
        if not n:
            return
        slots, lat = self.slots, self.latencies_ns
        slots[SEEN] += n
        lo, hi = slots[LO], slots[HI]
        got = i = 0
        for _ in range(n):
            i = lines.find(b"^", i) + 1
            j = lines.find(b" ", i)
            if j < 0:
                break
            k = lines.find(b"\n", j)
            try:
                s = int(lines[i:j])
                sent = int(lines[j : k if k > 0 else None])  # int() drops the " " and CR LF
            except ValueError:
                continue
            if lo <= s < hi:
                got += 1
                lat.append(now - sent)
        slots[RECEIVED] += got


def receive_share(
    port: int,
    user: type[User],
    share: range,
    slots: MutableSequence[int],
    logins: Logins,
    conn: Connection,
) -> None:
    """A generator process of its own (spawned by Crew): logs its share of the receivers in,
    says so, reads until told to stop, then sends back its latencies and dropped receivers."""
    raise_open_files_limit()

    async def run() -> None:
        tally, clients = ShareTally(slots), list[User]()
        try:
            makers = [partial(user, f"r{i:05d}", "bench", tally.take) for i in share]
            rx = await login_many(port, makers, clients, logins)
            gc.collect()
            gc.freeze()
            conn.send(("ready", os.getpid()))
            await asyncio.to_thread(conn.recv)
            conn.send(("done", tally.latencies_ns, sum(r.lost for r in rx)))
        except Exception as e:  # the sender's process reports it as the run's error
            conn.send(("error", f"{type(e).__name__}: {e}"))
        finally:
            for c in clients:
                c.close()

    uvloop.run(run())


class Crew:
    """The generator processes beside the sender's, one a share of the receivers (none: all
    in the sender's process, as every sitting before stop 63 measured)."""

    def __init__(self, ep: Endpoint, parts: Sequence[range], logins: Logins) -> None:
        ctx = multiprocessing.get_context("spawn")  # not fork: this process runs a loop
        self.slots = [ctx.RawArray("q", [NEVER, NEVER, 0, 0]) for _ in parts]
        self.conns: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for part, slots in zip(parts, self.slots, strict=True):
            mine, theirs = ctx.Pipe()
            args = (ep.port, ep.user, part, slots, logins, theirs)
            proc = ctx.Process(target=receive_share, args=args, daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(proc)

    async def _replies(self) -> list[tuple[Any, ...]]:
        got = [await asyncio.to_thread(c.recv) for c in self.conns]
        for reply in got:
            if reply[0] == "error":
                raise RuntimeError(f"a generator process: {reply[1]}")
        return got

    async def ready(self) -> list[int]:
        """Their pids, once every one has its receivers logged in."""
        return [pid for _, pid in await self._replies()]

    def bounds(self, lo: int | None = None, hi: int | None = None) -> None:
        for slots in self.slots:
            if lo is not None:
                slots[LO] = lo
            if hi is not None:
                slots[HI] = hi

    def received(self) -> list[int]:
        return [slots[RECEIVED] for slots in self.slots]

    def seen(self) -> int:
        return sum(slots[SEEN] for slots in self.slots)

    async def gather(self) -> tuple[list[list[int]], int]:
        """Each one's latencies, and how many of their receivers were dropped."""
        for c in self.conns:
            c.send("stop")
        got = await self._replies()
        return [lat for _, lat, _ in got], sum(dropped for *_, dropped in got)

    def close(self) -> None:
        for proc in self.procs:
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for c in self.conns:
            c.close()


async def measure_fanout(
    ep: Endpoint,
    clients: list[User],
    *,
    receivers: int = 1000,
    rate: float = 100.0,
    seconds: float = 10.0,
    warmup: float = 3.0,
    senders: int = 1,
    logins: Logins = DEFAULT_LOGINS,
    gen_procs: int = 1,
) -> Result:
    """`senders` users send `rate` messages/s in total to the room all `receivers` listen to,
    the receivers spread over `gen_procs` generator processes (this one, with the senders, and
    a Crew). Loss and latency are about the messages sent in the window; deliveries/s and CPU
    per delivery about the deliveries made in it (a server behind still delivers older ones)."""
    tally = Tally()
    t0 = time.monotonic()
    mine, *theirs = shares(receivers, gen_procs)
    crew = Crew(ep, theirs, logins)
    try:
        rx = await crowd_in(ep, clients, len(mine), "bench", tally.take, logins)
        tx = await login_many(
            ep.port,
            [partial(ep.user, f"s{i:03d}", "bench") for i in range(senders)],
            clients,
            logins,
        )
        gens = await crew.ready()
        login_s = time.monotonic() - t0
        await settle(ep.pid)
        gc.collect()
        gc.freeze()  # thousands of long-lived protocol objects: keep them out of GC passes
        feed = Feed(tx, rate, tally.sent_ns)
        task = asyncio.create_task(feed.run())
        await asyncio.sleep(warmup)
        w = Window(ep, gens)
        w.start()
        tally.lo = feed.seq
        crew.bounds(lo=tally.lo)
        seen = tally.seen + crew.seen()
        await asyncio.sleep(seconds)
        tally.hi = feed.seq
        crew.bounds(hi=tally.hi)
        w.stop()
        # deliveries made during the window, whenever sent: what the window's CPU paid for
        seen = tally.seen + crew.seen() - seen
        feed.stop()
        await task
        sent = tally.hi - tally.lo
        expected = sent * receivers
        drain_s = await wait_for_count(
            lambda: tally.received + sum(crew.received()),
            expected,
            progress=lambda: tally.seen + crew.seen(),
        )
        received = [tally.received, *crew.received()]
        latencies, dropped = await crew.gather()
        each = [sorted(x) for x in (tally.latencies_ns, *latencies)]
        lat = sorted(x for e in each for x in e)
        return {
            "receivers": receivers,
            "senders": senders,
            "rate": rate,
            "login_s": round(login_s, 2),
            "sent": sent,
            "expected": expected,
            "received": sum(received),
            "received_each": received,  # by generator process, the sender's first
            "gen_cpu_util_each": [round(c / w.seconds, 3) for c in w.gen_cpu_each],
            "loss": expected - sum(received),
            "dropped_receivers": sum(r.lost for r in rx) + dropped,
            "drain_s": round(drain_s, 2),  # after the window, until the last one arrived
            "deliveries_per_s": round(seen / w.seconds, 1),
            "cpu_us_per_delivery": round(w.server_cpu / max(seen, 1) * 1e6, 4),
            **per_delivery(w, seen),
            "p50_ms": percentile_ms(lat, 0.50),
            "p99_ms": percentile_ms(lat, 0.99),
            "p99_ms_each": [percentile_ms(e, 0.99) for e in each],  # by generator process
            "max_ms": lat[-1] / 1e6 if lat else None,
            "rss_mb": round(rss_bytes(ep.pid) / 2**20, 1),
            **w.report(),
        }
    finally:
        gc.unfreeze()
        crew.close()


# burst fan-out: the sender keeps `window` messages not yet delivered to every receiver


class Progress:
    """The sink of every burst receiver. One sender's messages reach a receiver in order, so
    the last sequence number in a chunk is how far that receiver has got; `target` is the one
    the sender waits for, `short` how many receivers have not seen it yet. Per chunk: a count
    and an rfind, whatever its size."""

    def __init__(self, receivers: int) -> None:
        self.seen = [-1] * receivers
        self.received = 0
        self.target = 0
        self.short = receivers
        self.on_done: Callable[[], None] = lambda: None

    def __call__(self, user: User, lines: bytes) -> None:
        n = lines.count(b"^")
        if not n:
            return
        self.received += n
        i = lines.rfind(b"^") + 1
        s = int(lines[i : lines.index(b" ", i)])
        seen, k = self.seen, user.index
        old = seen[k]
        seen[k] = s
        if old < self.target <= s:
            self.short -= 1
            if not self.short:
                self.on_done()

    def forget(self, k: int) -> None:
        """A receiver that was dropped no longer holds the window back."""
        self.seen[k] = 1 << 62


class Burst:
    """Sends as fast as the window allows: whenever the oldest message in flight has reached
    every receiver, the window is filled again in one write."""

    def __init__(self, sender: User, progress: Progress, window: int) -> None:
        self.sender = sender
        self.progress = progress
        self.window = window
        self.next = 0
        self.sending = True
        progress.on_done = self.pump

    def pump(self) -> None:
        p = self.progress
        done = min(p.seen)  # every receiver has every message up to this one
        n = done + 1 + self.window - self.next
        if n > 0 and self.sending and not self.sender.lost:
            self.sender.say_all([message(self.next + j) for j in range(n)])
            self.next += n
        p.target = done + 1
        p.short = p.seen.count(done)

    def drained(self) -> bool:
        return min(self.progress.seen) >= self.next - 1


async def measure_burst(
    ep: Endpoint,
    clients: list[User],
    *,
    receivers: int = 1000,
    window: int = 64,
    seconds: float = 10.0,
    warmup: float = 3.0,
    stall: float = 10.0,
    logins: Logins = DEFAULT_LOGINS,
) -> Result:
    """Deliveries/s and server CPU per delivery when one sender goes as fast as `window`
    undelivered messages allow."""
    progress = Progress(receivers)
    rx = await crowd_in(ep, clients, receivers, "bench", progress, logins)
    [tx] = await login_many(ep.port, [partial(ep.user, "s000", "bench")], clients, logins)
    await settle(ep.pid)
    gc.collect()
    gc.freeze()
    try:
        burst = Burst(tx, progress, window)
        burst.pump()
        await asyncio.sleep(warmup)
        w = Window(ep)
        w.start()
        first = progress.received
        stalled = await watch(burst, rx, seconds, stall)
        counted = progress.received - first
        w.stop()
        burst.sending = False
        sent = burst.next
        await wait_for_count(lambda: progress.received, sent * receivers, idle=5.0)
        return {
            "receivers": receivers,
            "window": window,
            "sent": sent,
            "sent_per_s": round(sent / (w.seconds + warmup), 1),
            "loss": sent * receivers - progress.received,
            "dropped_receivers": sum(r.lost for r in rx),
            "stalled": stalled,
            "deliveries_per_s": round(counted / w.seconds, 1),
            "cpu_us_per_delivery": round(w.server_cpu / max(counted, 1) * 1e6, 4),
            **per_delivery(w, counted),
            "rss_mb": round(rss_bytes(ep.pid) / 2**20, 1),
            **w.report(),
        }
    finally:
        gc.unfreeze()


async def watch(burst: Burst, rx: Sequence[User], seconds: float, stall: float) -> bool:
    """Let the burst run `seconds`, letting go of receivers that were dropped; True if it stopped
    moving for `stall` seconds (then the run is over early)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    last, since = -1, loop.time()
    while (now := loop.time()) < end:
        await asyncio.sleep(min(0.2, end - now))
        for r in rx:
            if r.lost and burst.progress.seen[r.index] < 1 << 62:
                burst.progress.forget(r.index)
                burst.pump()
        if burst.progress.received != last:
            last, since = burst.progress.received, loop.time()
        elif loop.time() - since > stall:
            return True
    return False


# durable throughput: each sender alone in its room, a window of unacknowledged messages


@dataclass
class EchoTally:
    sending: bool = False
    measuring: bool = False
    committed: int = 0
    errors: int = 0
    latencies_ns: list[int] = field(default_factory=list)


class Pipeliner:
    """The sink of one durable sender (telnet only: torbit echoes a message to its sender once
    it is committed). Keeps `window` messages in flight: each echo lets one more go."""

    def __init__(self, tally: EchoTally, window: int) -> None:
        self.tally = tally
        self.window = window
        self.in_flight = 0
        self.seq = 0

    def pump(self, user: User) -> None:
        n = self.window - self.in_flight
        if n <= 0 or not self.tally.sending or user.lost:
            return
        user.say_all([message(self.seq + i) for i in range(n)])
        self.seq += n
        self.in_flight += n

    def __call__(self, user: User, lines: bytes) -> None:
        now = time.monotonic_ns()
        t = self.tally
        echoes = errors = 0
        for line in lines.split(b"\r\n"):
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
        self.pump(user)


async def measure_durable(
    ep: Endpoint,
    clients: list[User],
    *,
    senders: int = 50,
    window: int = 32,
    seconds: float = 10.0,
    warmup: float = 3.0,
    logins: Logins = DEFAULT_LOGINS,
) -> Result:
    """Committed messages/s with `senders` users each pipelining into a room of their own."""
    tally = EchoTally()
    pipes = [Pipeliner(tally, window) for _ in range(senders)]
    px = await login_many(
        ep.port,
        [partial(ep.user, f"d{i:03d}", f"bench{i:03d}", pipes[i]) for i in range(senders)],
        clients,
        logins,
    )
    await settle(ep.pid)
    tally.sending = True
    for p, u in zip(pipes, px, strict=True):
        p.pump(u)
    await asyncio.sleep(warmup)
    w = Window(ep)
    w.start()
    tally.measuring = True
    await asyncio.sleep(seconds)
    tally.measuring = False
    w.stop()
    tally.sending = False
    await wait_for_count(lambda: -sum(p.in_flight for p in pipes), 0, idle=5.0)
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
        "unanswered": sum(p.in_flight for p in pipes),
        "dropped_senders": sum(u.lost for u in px),
        "rss_mb": round(rss_bytes(ep.pid) / 2**20, 1),
        **w.report(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run one measurement against a running server.")
    p.add_argument("scenario", choices=["fanout", "burst", "durable"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True, help="server process, for CPU and RSS")
    p.add_argument("--dialect", choices=sorted(DIALECTS), default="telnet")
    p.add_argument("--receivers", type=int, default=1000)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--senders", type=int, default=50)
    p.add_argument("--gen-procs", type=int, default=1, help="fanout: processes the receivers use")
    args = p.parse_args(argv)
    raise_open_files_limit()
    ep = Endpoint(args.port, args.pid, DIALECTS[args.dialect])

    async def run() -> Result:
        clients: list[User] = []
        try:
            if args.scenario == "fanout":
                return await measure_fanout(
                    ep,
                    clients,
                    receivers=args.receivers,
                    rate=args.rate,
                    seconds=args.seconds,
                    gen_procs=args.gen_procs,
                )
            if args.scenario == "burst":
                return await measure_burst(
                    ep, clients, receivers=args.receivers, window=args.window, seconds=args.seconds
                )
            return await measure_durable(ep, clients, senders=args.senders, seconds=args.seconds)
        finally:
            for c in clients:
                c.close()

    print(json.dumps(uvloop.run(run()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
