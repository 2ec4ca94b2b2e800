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

from tests.drills.clients import Honest, LoginFailed, basic_header, register_http, telnet_user
from tests.drills.harness import Report, ServerProcess

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
            request = (f"GET /api/v1/rooms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       f"Authorization: {basic_header(self._name())}\r\n\r\n")
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
            request = (f"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                       f"Sec-WebSocket-Version: 13\r\n"
                       f"Authorization: {basic_header(self._name())}\r\n\r\n")
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
        tasks = [asyncio.create_task(self.worker(kinds[i % len(kinds)], stop))
                 for i in range(workers)]
        start = time.monotonic()
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        return time.monotonic() - start


async def storm_drill(
    server: ServerProcess, *, seconds: float = 10.0, workers: int = 64, chatters: int = 5,
    users: int = 200, warmup: float = 2.0, max_rss_growth: int = 100 << 20, fd_slack: int = 10,
    kinds: tuple[str, ...] = KINDS,
) -> Report:
    """`workers` connections in flight at a time for `seconds`, over `users` accounts, while
    `chatters` telnet users and one HTTP user talk in another room at 10 msg/s each."""
    started = time.monotonic()
    await asyncio.to_thread(server.start)
    names = [f"storm{i:04d}" for i in range(users)]
    await register_http(server.http_url, [*names, "web"])
    honest = Honest(ROOM, [f"calm{i:02d}" for i in range(chatters)], "web")
    await honest.connect(server.telnet_port)
    storm = Storm(server, names)
    await storm.run(warmup, workers, kinds)  # pools, caches and buffers reach their working size
    await server.settle()
    await asyncio.sleep(1)
    rss_before, fds_before = server.rss(), server.fds()
    storm.done.clear()
    storm.failed.clear()
    quiet = asyncio.Event()
    talkers = [asyncio.create_task(honest.talk(u, quiet, 0.1)) for u in honest.users]
    talkers.append(asyncio.create_task(honest.talk_http(server.http_url, quiet, 0.1)))
    peak = [rss_before]

    async def watch() -> None:
        while not quiet.is_set():
            server.check_alive()
            peak[0] = max(peak[0], server.rss())
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch())
    elapsed = await storm.run(seconds, workers, kinds)
    quiet.set()
    await asyncio.gather(*talkers, watcher)
    await asyncio.sleep(2)  # the last honest lines reach everyone
    server.check_alive()
    settle_s = await server.settle()
    await asyncio.sleep(2)
    rss_after, fds_after = server.rss(), server.fds()
    missing = honest.missing()
    dropped = sum(u.closed.done() for u in honest.users)
    for u in honest.users:
        u.abort()
    server.stop()
    total = sum(storm.done.values())
    return Report(
        drill="connection-storm", deployment=server.deployment.name,
        load=f"{workers} connections in flight for {seconds:g} s ({', '.join(kinds)}) "
             f"+ {chatters} telnet and 1 http users chatting",
        faults=f"{total} connections opened and closed ({total / elapsed:.0f}/s)",
        acknowledged=len(honest.acked), lost=missing, rss_before=rss_before,
        rss_after=rss_after, fds_before=fds_before, fds_after=fds_after,
        seconds=time.monotonic() - started,
        extra={
            "per_s": {k: round(v / elapsed) for k, v in sorted(storm.done.items())},
            "failed": dict(storm.failed),
            "honest_dropped": dropped,
            "honest_errors": len(honest.errors),
            "rss_peak_mb": round(peak[0] / 2**20, 1),
            "settle_s": round(settle_s, 1),
            "rss_growth_ok": rss_after - rss_before < max_rss_growth,
            "fds_ok": fds_after <= fds_before + fd_slack,
        },
    )
