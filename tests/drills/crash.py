"""Crash drill: clients send numbered messages over telnet and HTTP while the server is killed
with SIGKILL at a random moment, again and again. After each restart every message any client
saw acknowledged must be in the room's history exactly once, each sender's messages in the
order sent, and what each telnet client saw live in the order history keeps.

Acknowledged means: telnet, the sender's own echo (torbit echoes only what is durable); HTTP,
a 201 from `POST /send/{room}/{user}`. A message whose acknowledgement never came may or may
not be in history, but never twice and never out of place.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from typing import Any

import httpx

from tests.drills.clients import (
    CHAT_LINE,
    TelnetUser,
    basic_header,
    register_http,
    room_history,
    telnet_user,
)
from tests.drills.harness import Report, ServerProcess

ROOM = "crash"


class Sender:
    """One client's numbered messages: `next_seq` goes on across restarts, so every message
    ever sent by this client has a number larger than all before it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.next_seq = 0
        self.acked: list[int] = []
        self.seen: list[tuple[str, int]] = []  # telnet: every drill line seen live, in order


class TelnetSender(Sender):
    """Keeps `window` messages in flight; each echo of its own lets one more go."""

    def __init__(self, name: str, window: int) -> None:
        super().__init__(name)
        self.window = window
        self._in_flight = 0
        self._moved = asyncio.Event()
        self._round_start = 0

    def _on_line(self, line: bytes, _now: int) -> None:
        m = CHAT_LINE.match(line)
        if m is None or not m.group(2).startswith(b"drill "):
            return
        sender, seq = m.group(1).decode(), int(m.group(2)[6:])
        self.seen.append((sender, seq))
        if sender == self.name and seq >= self._round_start:
            self.acked.append(seq)
            self._in_flight -= 1
            self._moved.set()

    async def connect(self, server: ServerProcess) -> TelnetUser:
        self._round_start = self.next_seq
        self._in_flight = 0
        return await telnet_user(server.telnet_port, self.name, ROOM, self._on_line)

    async def run_on(self, user: TelnetUser) -> None:
        while not user.closed.done():
            while self._in_flight < self.window:
                user.send(f"drill {self.next_seq}")
                self.next_seq += 1
                self._in_flight += 1
            self._moved.clear()
            waiter = asyncio.ensure_future(self._moved.wait())
            either: list[asyncio.Future[Any]] = [waiter, user.closed]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()


class HttpSender(Sender):
    """One request at a time with Basic auth; a 201 is an acknowledgement."""

    async def run_with(self, client: httpx.AsyncClient) -> None:
        while True:
            seq = self.next_seq
            self.next_seq += 1
            try:
                r = await client.post(
                    f"/send/{ROOM}/{self.name}",
                    content=f"drill {seq}",
                    headers={"Content-Type": "text/plain"},
                )
            except httpx.TransportError:
                return  # the server is gone: this message may or may not have been stored
            if r.status_code != 201:
                raise AssertionError(f"{self.name}: send answered {r.status_code}: {r.text}")
            self.acked.append(seq)


async def one_life(
    server: ServerProcess, telnet: list[TelnetSender], http: list[HttpSender], run_for: float
) -> None:
    """Let every client send to the running server; kill -9 it after `run_for` seconds."""
    users = await asyncio.gather(*(s.connect(server) for s in telnet))
    clients = [
        httpx.AsyncClient(
            base_url=server.http_url,
            timeout=30,
            headers={"Authorization": basic_header(s.name)},
            limits=httpx.Limits(max_connections=1),
        )
        for s in http
    ]
    try:
        tasks = [asyncio.create_task(s.run_on(u)) for s, u in zip(telnet, users, strict=True)]
        tasks += [asyncio.create_task(s.run_with(c)) for s, c in zip(http, clients, strict=True)]
        await asyncio.sleep(run_for)
        for t in tasks:
            if t.done():
                t.result()  # a client that failed before the kill says why
        server.kill()
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
    finally:
        for u in users:
            u.abort()
        for c in clients:
            await c.aclose()


def check(history: list[dict[str, object]], senders: list[Sender]) -> dict[str, int]:
    """Compare what clients saw acknowledged (and live) with what history keeps."""
    order: dict[tuple[str, int], int] = {}
    per_sender: dict[str, list[int]] = {}
    for i, m in enumerate(history):
        text = str(m["text"])
        if not text.startswith("drill "):
            continue
        key = (str(m["sender"]), int(text[6:]))
        order.setdefault(key, i)
        per_sender.setdefault(key[0], []).append(key[1])
    lost = duplicates = out_of_order = live_misordered = 0
    for s in senders:
        stored = per_sender.get(s.name, [])
        duplicates += len(stored) - len(set(stored))
        out_of_order += sum(1 for a, b in itertools.pairwise(stored) if b <= a)
        lost += len(set(s.acked) - set(stored))
        positions = [order.get(k, -1) for k in s.seen]
        live_misordered += sum(1 for p in positions if p < 0)
        live_misordered += sum(1 for a, b in itertools.pairwise(positions) if b <= a)
    return {
        "lost": lost,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "live_misordered": live_misordered,
        "stored": sum(map(len, per_sender.values())),
    }


async def crash_drill(
    server: ServerProcess,
    *,
    clients: int = 50,
    kills: int = 3,
    http_share: float = 0.5,
    window: int = 8,
    min_run: float = 0.3,
    max_run: float = 2.5,
    seed: int | None = None,
) -> Report:
    """`kills` lives of the server, each ended by SIGKILL after a random time in
    [min_run, max_run] seconds of sending; history is checked after every restart."""
    rng = random.Random(seed)
    n_http = round(clients * http_share)
    http = [HttpSender(f"h{i:03d}") for i in range(n_http)]
    telnet = [TelnetSender(f"t{i:03d}", window) for i in range(clients - n_http)]
    senders: list[Sender] = [*telnet, *http]
    started = time.monotonic()
    await asyncio.to_thread(server.start)
    rss_before, fds_before = server.rss(), server.fds()
    await register_http(server.http_url, [s.name for s in http])
    kill_points: list[float] = []
    found: dict[str, int] = {}
    for _ in range(kills):
        run_for = rng.uniform(min_run, max_run)
        kill_points.append(round(run_for, 2))
        await one_life(server, telnet, http, run_for)
        await asyncio.to_thread(server.start)
        found = check(await room_history(server.http_url, "checker", ROOM), senders)
        for s in senders:
            s.seen.clear()  # checked; the next life starts a new live view
        if any(found[k] for k in ("lost", "duplicates", "out_of_order", "live_misordered")):
            break  # stop at the first life that went wrong: its numbers say what
    rss_after, fds_after = server.rss(), server.fds()
    server.stop()
    acked = sum(len(s.acked) for s in senders)
    return Report(
        drill="crash",
        deployment=server.deployment.name,
        load=f"{clients} clients ({len(telnet)} telnet, {len(http)} http)",
        faults=f"{len(kill_points)} x kill -9",
        acknowledged=acked,
        lost=found["lost"],
        rss_before=rss_before,
        rss_after=rss_after,
        fds_before=fds_before,
        fds_after=fds_after,
        seconds=time.monotonic() - started,
        extra={
            "stored": found["stored"],
            "duplicates": found["duplicates"],
            "out_of_order": found["out_of_order"],
            "live_misordered": found["live_misordered"],
            "kill_after_s": ",".join(map(str, kill_points)),
        },
    )
