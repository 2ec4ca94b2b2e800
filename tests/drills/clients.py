"""Lean clients for drills with hundreds of users in one process: a telnet user as an asyncio
Protocol (no StreamReader, lines split in bulk), a WebSocket user that never reads, and HTTP
helpers. Chat lines are handed to a callback with their arrival time, so latency is measured
on the same clock the sender stamped."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import time
from collections.abc import Callable
from typing import cast

import httpx

from tests.drills.harness import PASSWORD
from tests.helpers.telnet_client import strip_iac

HOST = "127.0.0.1"
LineHandler = Callable[[bytes, int], None]  # (line without CRLF, arrival time in ns)

# "[15:04:05] <alice> text": sender and text of a chat line
ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")  # SGR and erase sequences
CHAT_LINE = re.compile(rb"^\[\d\d:\d\d:\d\d\] <([^>]+)> (.*)$")


class LoginFailed(Exception):
    """The server refused the login dialog or closed the connection during it."""


class TelnetUser(asyncio.Protocol):
    """One telnet user: logs in (registering on first use), joins `room` if given, then hands
    every complete line to `on_line`. `ready` resolves once it is in its room; `closed` once
    the connection is gone."""

    transport: asyncio.Transport

    def __init__(
        self,
        name: str,
        room: str | None = None,
        on_line: LineHandler | None = None,
        password: str = PASSWORD,
    ) -> None:
        self.name = name
        self.room = room
        self.on_line = on_line
        self.password = password
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.live = False
        self.errors: list[bytes] = []  # "! ..." lines after login
        self._buf = b""
        self._welcomed = False
        self._joining = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(LoginFailed(f"{self.name}: closed during login"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if not self.live:
            self._login(strip_iac(data))
            return
        now = time.monotonic_ns()
        lines = (self._buf + data).split(b"\r\n") if self._buf else data.split(b"\r\n")
        self._buf = lines.pop()
        handler = self.on_line
        for line in lines:
            if line[:2] == b"! ":
                self.errors.append(line)
            if handler is not None:
                handler(line, now)

    def send(self, text: str) -> None:
        if not self.transport.is_closing():
            self.transport.write(text.encode() + b"\r\n")

    def stop_reading(self) -> None:
        """Never read again: the server's output to this user piles up."""
        self.transport.pause_reading()

    def abort(self) -> None:
        if hasattr(self, "transport"):
            self.transport.abort()

    def _login(self, data: bytes) -> None:
        lines = (self._buf + data).split(b"\n")
        tail = lines.pop()
        for i, raw in enumerate(lines):
            line = raw.rstrip(b"\r")
            if line.startswith(b"! "):
                if not self.ready.done():
                    self.ready.set_exception(LoginFailed(f"{self.name}: {line.decode()}"))
                self.transport.abort()
                return
            if not self._welcomed:
                self._welcomed = line.startswith(b"Welcome")
            elif line.startswith(b"* you are in #"):
                here = line[14:].split(b" ", 1)[0].decode().lower()
                if self.room is None or here == self.room.lower():
                    self.live = True
                    self._buf = b""
                    if not self.ready.done():
                        self.ready.set_result(None)
                    rest = b"\r\n".join(x.rstrip(b"\r") for x in [*lines[i + 1 :], tail])
                    if rest:
                        self.data_received(rest)
                    return
                if not self._joining:
                    self._joining = True
                    self.send(f"/join {self.room}")
        stripped = ANSI.sub(b"", tail).rstrip()  # a password prompt ends in SGR 8 (conceal)
        if stripped.endswith(b"Name:"):
            self.send(self.name)
            tail = b""
        elif stripped.lower().endswith(b"password:"):
            self.send(self.password)
            tail = b""
        self._buf = tail


async def telnet_user(
    port: int,
    name: str,
    room: str | None = None,
    on_line: LineHandler | None = None,
    *,
    timeout: float = 30.0,
    rcvbuf: int | None = None,
) -> TelnetUser:
    """Connect and log in. With `rcvbuf`, the socket's receive buffer is set before connecting
    (so the TCP window stays that small: a user that stops reading fills up fast)."""
    loop = asyncio.get_running_loop()
    sock = None
    if rcvbuf is not None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (HOST, port))
        except OSError:
            sock.close()
            raise
        _, user = await loop.create_connection(lambda: TelnetUser(name, room, on_line), sock=sock)
    else:
        _, user = await loop.create_connection(lambda: TelnetUser(name, room, on_line), HOST, port)
    try:
        await asyncio.wait_for(asyncio.shield(user.ready), timeout)
    except BaseException:
        user.abort()
        raise
    return user


class Honest:
    """Honest users of one room: each telnet user says a numbered line every `interval`
    seconds and keeps every honest line it sees; an HTTP user says them through POST /send;
    watchers (`watch`) only listen, e.g. on another node. `missing()` counts acknowledged
    lines some telnet user or watcher did not get; `latencies_ms` is, for each line a user
    other than its sender got, the time from the send to its arrival."""

    def __init__(self, room: str, names: list[str], http_name: str) -> None:
        self.room = room
        self.names = names
        self.http_name = http_name
        self.seen: dict[str, set[tuple[str, int]]] = {n: set() for n in names}
        self.acked: set[tuple[str, int]] = set()
        self.users: list[TelnetUser] = []
        self.watchers: list[TelnetUser] = []
        self.errors: list[str] = []
        self.sent_ns: dict[tuple[str, int], int] = {}
        self.latencies_ms: list[float] = []

    def handler(self, name: str) -> LineHandler:
        seen = self.seen.setdefault(name, set())
        sent_ns, latencies = self.sent_ns, self.latencies_ms

        def on_line(line: bytes, now: int) -> None:
            m = CHAT_LINE.match(line)
            if m and m.group(2).startswith(b"honest "):
                key = (m.group(1).decode(), int(m.group(2)[7:]))
                seen.add(key)
                if key[0] == name:
                    self.acked.add(key)
                elif (sent := sent_ns.get(key)) is not None:
                    latencies.append((now - sent) / 1e6)

        return on_line

    async def connect(self, *ports: int) -> None:
        """Log the talkers in, round-robin over the nodes' telnet `ports`."""
        self.users = [
            await telnet_user(ports[i % len(ports)], n, self.room, self.handler(n))
            for i, n in enumerate(self.names)
        ]

    async def watch(self, port: int, names: list[str]) -> None:
        """Users who only listen, on the node at telnet `port`."""
        self.watchers += [await telnet_user(port, n, self.room, self.handler(n)) for n in names]

    async def talk(self, user: TelnetUser, stop: asyncio.Event, interval: float) -> None:
        seq = 0
        while not stop.is_set() and not user.closed.done():
            self.sent_ns[(user.name, seq)] = time.monotonic_ns()
            user.send(f"honest {seq}")
            seq += 1
            await asyncio.sleep(interval)

    async def talk_http(self, base_url: str, stop: asyncio.Event, interval: float) -> None:
        seq = 0
        async with httpx.AsyncClient(
            base_url=base_url, timeout=30, headers={"Authorization": basic_header(self.http_name)}
        ) as client:
            while not stop.is_set():
                self.sent_ns[(self.http_name, seq)] = time.monotonic_ns()
                r = await client.post(
                    f"/send/{self.room}/{self.http_name}",
                    content=f"honest {seq}",
                    headers={"Content-Type": "text/plain"},
                )
                if r.status_code == 201:
                    self.acked.add((self.http_name, seq))
                else:
                    self.errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                seq += 1
                await asyncio.sleep(interval)

    def missing(self) -> int:
        return sum(len(self.acked - seen) for seen in self.seen.values())

    def settled(self) -> bool:
        """Every line sent was acknowledged and every acknowledged one reached everyone:
        nothing still in flight can change `missing()` any more."""
        return self.acked.issuperset(self.sent_ns) and self.missing() == 0

    def delivered(self) -> int:
        """Honest lines received by users other than their sender."""
        return sum(sum(1 for key in seen if key[0] != name) for name, seen in self.seen.items())

    def dropped(self) -> int:
        return sum(u.closed.done() for u in [*self.users, *self.watchers])

    def abort(self) -> None:
        for u in [*self.users, *self.watchers]:
            u.abort()


async def last_lines_arrive(honest: list[Honest], at_most: float = 15.0) -> None:
    """Give the last honest lines `at_most` seconds to reach everyone, ending early once
    every group has `settled()` (a fixed 2 s sleep before; a line still unacknowledged or
    undelivered waits it out, so the verdict is the same). 15 s, not 2: the storm drill's
    honest lines take up to 3.7 s (p99) on CI's two cores while the storm is on, and a line
    sent just before it ended still arrives, only late: only a lost line waits all 15 s."""
    deadline = asyncio.get_running_loop().time() + at_most
    while not all(h.settled() for h in honest) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


def basic_header(name: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


async def register_http(base_url: str, names: list[str], password: str = PASSWORD) -> None:
    """Register users over the API (409 for an existing name is fine)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for name in names:
            r = await client.post("/api/v1/users", json={"name": name, "password": password})
            assert r.status_code in (201, 409), r.text


async def room_history(base_url: str, reader: str, room: str) -> list[dict[str, object]]:
    """Every retained message of a room, oldest first, read through the API by `reader`
    (registered and made a member here if needed)."""
    await register_http(base_url, [reader])
    messages: list[dict[str, object]] = []
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60, headers={"Authorization": basic_header(reader)}
    ) as client:
        r = await client.put(f"/api/v1/rooms/{room}/members/{reader}")
        assert r.status_code == 200, r.text
        after = 0
        while True:
            r = await client.get(
                f"/api/v1/rooms/{room}/messages", params={"after": after, "limit": 1000}
            )
            assert r.status_code == 200, r.text
            page = r.json()
            messages += page["messages"]
            if page["next_after"] is None:
                return messages
            after = page["next_after"]


class StuckWebSocket:
    """A WebSocket user that subscribes to a room and never reads again, on a raw socket
    with a small receive buffer. Only the handshake and one masked client frame are coded."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(cls, http_port: int, name: str, room: str, rcvbuf: int = 4096) -> StuckWebSocket:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (HOST, http_port))
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET /api/v1/ws HTTP/1.1\r\nHost: {HOST}:{http_port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: {basic_header(name)}\r\n\r\n"
            )
            await loop.sock_sendall(sock, request.encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 30)
                if not chunk:
                    raise LoginFailed(f"{name}: WebSocket closed during handshake: {head!r}")
                head += chunk
            if not head.startswith(b"HTTP/1.1 101"):
                raise LoginFailed(f"{name}: WebSocket refused: {head[:200]!r}")
            payload = b'{"type": "subscribe", "room": "%s"}' % room.encode()
            await loop.sock_sendall(sock, masked_text_frame(payload))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    def close(self) -> None:
        self.sock.close()


def masked_text_frame(payload: bytes) -> bytes:
    """One client-to-server text frame (RFC 6455: clients must mask)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes((0x81, 0x80 | n))
    elif n < 65536:
        header = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked
