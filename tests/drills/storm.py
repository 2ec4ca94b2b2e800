"""Connection storm drill: for a while, as many connections a second as the machine allows
come and go — bare TCP connects, telnet logins that quit at once, HTTP requests, WebSocket
logins — while a room keeps chatting. The room must get every message throughout, and once
the storm is over and the server has settled, its descriptors and memory must be back where
they were (no leak per connection).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections import Counter

from tests.drills.clients import (
    Honest,
    LoginFailed,
    basic_header,
    last_lines_arrive,
    register_http,
    telnet_user,
)
from tests.drills.harness import Report, ServerProcess, load_average, percentile

HOST = "127.0.0.1"
ROOM = "calm"
KINDS = ("tcp", "telnet", "http", "ws")


async def _raw(port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (HOST, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _read_until(sock: socket.socket, marker: bytes, limit: int = 1 << 16) -> bytes:
    loop = asyncio.get_running_loop()
    got = b""
    while marker not in got:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk or len(got) > limit:
            break
        got += chunk
    return got


class Storm:
    """Workers, each opening and closing connections of one kind; the kinds share them
    equally."""

    def __init__(self, server: ServerProcess, names: list[str]) -> None:
        self.server = server
        self.names = names
        self.done: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._next_name = 0

    def _name(self) -> str:
        self._next_name += 1
        return self.names[self._next_name % len(self.names)]

    async def tcp(self) -> None:
        """Connect and hang up at once."""
        (await _raw(self.server.telnet_port)).close()

    async def telnet(self) -> None:
        """Log in (to #lobby), /quit, wait for the server to hang up."""
        user = await telnet_user(self.server.telnet_port, self._name(), timeout=30)
        user.send("/quit")
        await asyncio.wait_for(user.closed, 30)

    async def http(self) -> None:
        """One request with Basic auth on a connection of its own."""
        sock = await _raw(self.server.http_port)
        try:
            request = (
                f"GET /api/v1/rooms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Authorization: {basic_header(self._name())}\r\n\r\n"
            )
            await asyncio.get_running_loop().sock_sendall(sock, request.encode())
            head = await asyncio.wait_for(_read_until(sock, b"\r\n"), 30)
            if not head.startswith(b"HTTP/1.1 200"):
                raise LoginFailed(f"http: {head[:80]!r}")
        finally:
            sock.close()

    async def ws(self) -> None:
        """A WebSocket login with Basic auth; hang up once it says "logged in"."""
        sock = await _raw(self.server.http_port)
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n"
                f"Authorization: {basic_header(self._name())}\r\n\r\n"
            )
            await asyncio.get_running_loop().sock_sendall(sock, request.encode())
            got = await asyncio.wait_for(_read_until(sock, b"logged in"), 30)
            if b"logged in" not in got:
                raise LoginFailed(f"ws: {got[:80]!r}")
        finally:
            sock.close()

    async def worker(self, kind: str, stop: asyncio.Event) -> None:
        """One connection of this kind after another, as fast as they go."""
        cycle = getattr(self, kind)
        while not stop.is_set():
            try:
                await cycle()
                self.done[kind] += 1
            except (OSError, TimeoutError, LoginFailed, EOFError):
                self.failed[kind] += 1
                await asyncio.sleep(0.05)

    async def run(self, seconds: float, workers: int, kinds: tuple[str, ...] = KINDS) -> float:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self.worker(kinds[i % len(kinds)], stop)) for i in range(workers)
        ]
        start = time.monotonic()
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        return time.monotonic() - start


async def storm_drill(
    server: ServerProcess,
    *,
    seconds: float = 10.0,
    workers: int = 64,
    chatters: int = 5,
    users: int = 200,
    warmup: float = 2.0,
    max_rss_growth: int = 100 << 20,
    fd_slack: int = 10,
    kinds: tuple[str, ...] = KINDS,
    other: ServerProcess | None = None,
) -> Report:
    """`workers` connections in flight at a time for `seconds`, over `users` accounts, while
    `chatters` telnet users and one HTTP user talk in another room at 10 msg/s each. With
    `other` (a second node of the cluster) the workers and the chatters are split over both
    nodes and the HTTP user talks to the second, so the room's lines cross the broker."""
    started = time.monotonic()
    nodes = [server] if other is None else [server, other]
    for node in nodes:
        await asyncio.to_thread(node.start)
    names = [f"storm{i:04d}" for i in range(users)]
    await register_http(server.http_url, [*names, "web"])
    honest = Honest(ROOM, [f"calm{i:02d}" for i in range(chatters)], "web")
    await honest.connect(*(node.telnet_port for node in nodes))
    storms = [Storm(node, names) for node in nodes]

    async def run_storms(duration: float) -> float:
        spans = await asyncio.gather(
            *(st.run(duration, max(1, workers // len(storms)), kinds) for st in storms)
        )
        return max(spans)

    await run_storms(warmup)  # pools, caches and buffers reach their working size
    for node in nodes:
        await node.settle()
    await asyncio.sleep(1)
    rss_before, fds_before = [n.rss() for n in nodes], [n.fds() for n in nodes]
    for st in storms:
        st.done.clear()
        st.failed.clear()
    honest.latencies_ms.clear()
    quiet = asyncio.Event()
    talkers = [asyncio.create_task(honest.talk(u, quiet, 0.1)) for u in honest.users]
    talkers.append(asyncio.create_task(honest.talk_http(nodes[-1].http_url, quiet, 0.1)))
    peak = list(rss_before)

    async def watch() -> None:
        while not quiet.is_set():
            for i, node in enumerate(nodes):
                node.check_alive()
                peak[i] = max(peak[i], node.rss())
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch())
    load_during = load_average()
    elapsed = await run_storms(seconds)
    quiet.set()
    await asyncio.gather(*talkers, watcher)
    await last_lines_arrive([honest])
    settle_s = 0.0
    for node in nodes:
        node.check_alive()
        settle_s = max(settle_s, await node.settle())
    # up to 10 s more for descriptors to be let go (a fixed 2 s before; a loaded machine's
    # closes can take longer, a leak never ends): read as soon as every node is back within
    # the slack, which is what fds_ok asks (RSS read earlier is, if anything, higher)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline and not all(
        n.fds() <= b + fd_slack for n, b in zip(nodes, fds_before, strict=True)
    ):
        await asyncio.sleep(0.1)
    rss_after, fds_after = [n.rss() for n in nodes], [n.fds() for n in nodes]
    missing = honest.missing()
    dropped = honest.dropped()
    honest.abort()
    for node in nodes:
        node.stop()
    done: Counter[str] = sum((st.done for st in storms), Counter())
    failed: Counter[str] = sum((st.failed for st in storms), Counter())
    total = sum(done.values())
    latencies = sorted(honest.latencies_ms)
    extra: dict[str, object] = {
        "nodes": len(nodes),
        "per_s": {k: round(v / elapsed) for k, v in sorted(done.items())},
        "failed": dict(failed),
        "honest_dropped": dropped,
        "honest_errors": len(honest.errors),
        "delivered": honest.delivered(),
        "latency_ms_p50_p99": f"{percentile(latencies, 0.5) or 0:.1f}/"
        f"{percentile(latencies, 0.99) or 0:.1f}",
        "rss_peak_mb": round(peak[0] / 2**20, 1),
        "settle_s": round(settle_s, 1),
        "rss_growth_ok": all(
            a - b < max_rss_growth for a, b in zip(rss_after, rss_before, strict=True)
        ),
        "fds_ok": all(a <= b + fd_slack for a, b in zip(fds_after, fds_before, strict=True)),
        "load_during": load_during,
    }
    if other is not None:
        extra["node_b_rss_mb"] = (
            f"{rss_before[1] / 2**20:.1f}->{rss_after[1] / 2**20:.1f} (peak {peak[1] / 2**20:.1f})"
        )
        extra["node_b_fds"] = f"{fds_before[1]}->{fds_after[1]}"
    return Report(
        drill="connection-storm",
        deployment=server.deployment.name,
        load=f"{workers} connections in flight for {seconds:g} s ({', '.join(kinds)}) "
        f"+ {chatters} telnet and 1 http users chatting"
        + (", all split over 2 nodes" if other else ""),
        faults=f"{total} connections opened and closed ({total / elapsed:.0f}/s)",
        acknowledged=len(honest.acked),
        lost=missing,
        rss_before=rss_before[0],
        rss_after=rss_after[0],
        fds_before=fds_before[0],
        fds_after=fds_after[0],
        seconds=time.monotonic() - started,
        extra=extra,
    )
