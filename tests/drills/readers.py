"""Slow and stuck readers drill: healthy clients in a room with a steady sender, then the same
with clients that never read (telnet users with a tiny receive window that stop reading, and
WebSocket users that subscribe and never read). The stuck ones must be dropped, each with a
line in the app log saying why; the healthy ones must get every message, their p99 latency is
compared with the run without stuck clients, and server memory must stay bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.drills.clients import StuckWebSocket, TelnetUser, register_http, telnet_user
from tests.drills.harness import Report, ServerProcess, load_average, percentile

ROOM = "readers"


@dataclass
class Tally:
    """Receipts of the measured messages (sequence numbers in [lo, hi)) by healthy clients."""

    lo: int = 0
    hi: int = 1 << 62
    received: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def on_line(self, line: bytes, now: int) -> None:
        parts = line.split(b" ", 4)
        if len(parts) < 4 or parts[1] != b"<sender>":
            return
        try:
            seq, sent = int(parts[2]), int(parts[3])
        except ValueError:
            return
        if self.lo <= seq < self.hi:
            self.received += 1
            self.latencies_ms.append((now - sent) / 1e6)


class Feed:
    """`rate` messages a second of about `size` bytes, each `SEQ SEND_NS padding`, on an
    absolute schedule: a late wake-up sends what is due instead of slowing down."""

    def __init__(self, user: TelnetUser, rate: float, size: int) -> None:
        self.user = user
        self.rate = rate
        self.pad = "x" * max(0, size - 40)
        self.seq = 0
        self.running = True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start, sent = loop.time(), 0
        while self.running:
            due = int((loop.time() - start) * self.rate) + 1 - sent
            for _ in range(max(due, 0)):
                self.user.send(f"{self.seq} {time.monotonic_ns()} {self.pad}")
                self.seq += 1
                sent += 1
            await asyncio.sleep(max(0.0, sent / self.rate - (loop.time() - start)))


async def measure(
    feed: Feed,
    tally: Tally,
    seconds: float,
    expected_receivers: int,
    until: Callable[[], bool] | None = None,
    until_within: float = 120.0,
) -> tuple[int, int]:
    """Count receipts of the messages sent during `seconds` (or until `until()` is true, at
    least `seconds` and at most `until_within`); wait for stragglers. Returns (messages sent,
    receipts expected)."""
    tally.received = 0
    tally.latencies_ms.clear()
    tally.lo, tally.hi = feed.seq, 1 << 62
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(seconds)
    while until is not None and not until() and loop.time() - start < until_within:
        await asyncio.sleep(0.2)
    tally.hi = feed.seq
    sent = tally.hi - tally.lo
    expected = sent * expected_receivers
    deadline = loop.time() + 30
    while tally.received < expected and loop.time() < deadline:
        await asyncio.sleep(0.1)
    return sent, expected


async def readers_drill(
    server: ServerProcess,
    *,
    healthy: int = 200,
    stuck: int = 20,
    stuck_ws: int | None = None,
    rate: float = 100.0,
    size: int = 2000,
    seconds: float = 5.0,
    max_rss_growth: int = 200 << 20,
    drop_within: float = 120.0,
    other: ServerProcess | None = None,
) -> Report:
    """`healthy` readers, then `stuck` more that never read (a quarter of them WebSocket unless
    `stuck_ws` says); `rate` messages/s of `size` bytes; `seconds` per measured phase, the
    second one going on until every stuck reader was dropped (`drop_within` at most). With
    `other` (a second node of the cluster) every other healthy reader is on it; the sender and
    the stuck readers stay on `server`."""
    started = time.monotonic()
    n_ws = stuck // 4 if stuck_ws is None else stuck_ws
    n_telnet = stuck - n_ws
    nodes = [server] if other is None else [server, other]
    for node in nodes:
        await asyncio.to_thread(node.start)
    rss_before, fds_before = server.rss(), server.fds()
    rss_before_b = other.rss() if other else 0
    load_during = ""
    tally = Tally()
    users: list[TelnetUser] = []
    sockets: list[StuckWebSocket] = []
    try:
        sem = asyncio.Semaphore(50)

        async def healthy_user(i: int) -> TelnetUser:
            async with sem:
                port = nodes[i % len(nodes)].telnet_port
                return await telnet_user(port, f"ok{i:04d}", ROOM, tally.on_line)

        users += await asyncio.gather(*(healthy_user(i) for i in range(healthy)))
        sender = await telnet_user(server.telnet_port, "sender", ROOM)
        users.append(sender)
        await server.settle()
        feed = Feed(sender, rate, size)
        feeding = asyncio.create_task(feed.run())

        # A: healthy readers only
        sent_a, expected_a = await measure(feed, tally, seconds, healthy)
        lat_a = sorted(tally.latencies_ms)
        received_a = tally.received

        # B: the same with stuck readers joining
        peak = [server.rss()]
        ws_names = [f"wstuck{i:03d}" for i in range(n_ws)]
        await register_http(server.http_url, ws_names)
        stuck_users = [
            await telnet_user(server.telnet_port, f"stuck{i:03d}", ROOM, rcvbuf=4096)
            for i in range(n_telnet)
        ]
        for u in stuck_users:
            u.stop_reading()
        sockets += [await StuckWebSocket.open(server.http_port, n, ROOM) for n in ws_names]
        users += stuck_users

        drop_s: dict[str, float] = {}  # stuck client -> seconds into phase B it was dropped

        def all_dropped() -> bool:
            peak[0] = max(peak[0], server.rss())
            log = server.app_log()
            now = round(time.monotonic() - t_b, 1)
            for u in stuck_users:  # it reads nothing, so it cannot tell it was cut off
                if f"({u.name}): output buffer over" in log:
                    drop_s.setdefault(u.name, now)
            for n in ws_names:  # its queue filled up, or it stopped answering pings first
                if (
                    f"dropping WebSocket client {n}:" in log
                    or f"WebSocket client {n} gone without closing" in log
                ):
                    drop_s.setdefault(n, now)
            return len(drop_s) == n_telnet + n_ws

        t_b = time.monotonic()
        load_during = load_average()
        sent_b, expected_b = await measure(feed, tally, seconds, healthy, all_dropped, drop_within)
        phase_b = time.monotonic() - t_b
        lat_b = sorted(tally.latencies_ms)
        received_b = tally.received
        feed.running = False
        await feeding
        for node in nodes:
            node.check_alive()
        await server.settle()
        rss_after, fds_mid = server.rss(), server.fds()

        log = server.app_log()
        dropped_telnet = sum(f"({u.name}): output buffer over" in log for u in stuck_users)
        dropped_ws = sum(
            f"dropping WebSocket client {n}:" in log
            or f"WebSocket client {n} gone without closing" in log
            for n in ws_names
        )
        healthy_dropped = sum(u.closed.done() for u in users[:healthy])
    finally:
        for u in users:
            u.abort()
        for s in sockets:
            s.close()
    await asyncio.sleep(1)
    await server.settle()
    fds_after = server.fds()
    rss_after_b = other.rss() if other else 0
    for node in nodes:
        node.stop()
    p99_a, p99_b = percentile(lat_a, 0.99), percentile(lat_b, 0.99)
    lost = (expected_a - received_a) + (expected_b - received_b)
    return Report(
        drill="stuck-readers",
        deployment=server.deployment.name,
        load=f"{healthy} healthy + {stuck} stuck ({n_telnet} telnet, {n_ws} ws), "
        f"{rate:g} msg/s x {size} B"
        + (", half the healthy readers on a second node" if other else ""),
        faults=f"{stuck} readers that never read",
        acknowledged=sent_a + sent_b,
        lost=lost,
        rss_before=rss_before,
        rss_after=rss_after,
        fds_before=fds_before,
        fds_after=fds_after,
        seconds=time.monotonic() - started,
        extra={
            "deliveries": received_a + received_b,
            "p99_ms_without": round(p99_a, 1) if p99_a is not None else None,
            "p99_ms_with": round(p99_b, 1) if p99_b is not None else None,
            "p99_ratio": round(p99_b / p99_a, 2) if p99_a and p99_b else None,
            "stuck_dropped": dropped_telnet + dropped_ws,
            "phase_b_s": round(phase_b, 1),
            "telnet_dropped_after_s": max(
                (drop_s.get(u.name, -1) for u in stuck_users), default=None
            ),
            "ws_dropped_after_s": max((drop_s.get(n, -1) for n in ws_names), default=None),
            "healthy_dropped": healthy_dropped,
            "rss_peak_mb": round(peak[0] / 2**20, 1),
            "rss_growth_ok": peak[0] - rss_before < max_rss_growth,
            "fds_with_clients": fds_mid,
            "p50_ms_without_with": f"{percentile(lat_a, 0.5) or 0:.1f}/"
            f"{percentile(lat_b, 0.5) or 0:.1f}",
            "load_during": load_during,
            **(
                {
                    "nodes": 2,
                    "node_b_rss_mb": f"{rss_before_b / 2**20:.1f}->{rss_after_b / 2**20:.1f}",
                }
                if other
                else {}
            ),
        },
    )
