"""The HTTP/WebSocket front-door benchmark: each scenario runs against a bare FastAPI reference
(uvicorn, uvloop, httptools; stores nothing) and against torbit with HTTP enabled, in the same
invocation, repeated; medians and torbit ÷ reference ratios are reported.

    .venv/bin/python bench/http_bench.py                          # all scenarios, 3 repeats
    .venv/bin/python bench/http_bench.py --scenario send --seconds 5 --repeat 1
    .venv/bin/python bench/http_bench.py --scenario websocket --ws-clients 1000 --rate 20

Scenarios: `send` (concurrent POST /send), `receive` (first page of 10,000 unread, long-poll
wake-up), `websocket` (1,000 subscribers, one sender at a fixed rate). The load generator is one
Python process on the same machine, so on a small machine it is part of what is measured.

Results: a markdown table on stdout, every raw run in bench/results/<time>-http-<scenario>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import uvloop
import websockets
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from procstat import cpu_seconds, raise_open_files_limit, rss_bytes
from profiles import Recorder, hottest
from reports import fmt, log, saved
from servers import (
    ARGON2_CHEAP,
    BENCH_DIR,
    HOST,
    Server,
    ServerError,
    start_torbit,
    torbit_hasher,
)

# how long torbit remembers verified Basic credentials (frontends/http/auth.py's
# BASIC_CACHE_TTL): the receive scenario's first page waits this out to pay argon2
CREDENTIALS_REMEMBERED_S = 30.0

KINDS = ("reference", "torbit")
Result = dict[str, Any]
PASSWORD = "bench-password-1"
ROOM = "lobby"
SEPARATORS = (",", ":")  # torbit's WebSocket frames are compact JSON

# metric key, label, show ratio
ROWS: dict[str, list[tuple[str, str, bool]]] = {
    "send": [
        ("requests_per_s", "requests/s", True),
        ("p50_ms", "p50 latency ms", True),
        ("p99_ms", "p99 latency ms", True),
        ("errors", "errors", False),
        ("cpu_us_per_request", "server CPU µs/request", True),
        ("server_cpu_util", "server CPU (cores)", False),
        ("rss_mb", "server RSS MB", True),
    ],
    "receive": [
        ("first_page_ms", "first page (limit 100) of the backlog, Basic cold (argon2) ms", True),
        ("first_page_token_ms", "first page, bearer token (from before the fill) ms", True),
        ("first_page_warm_ms", "first page, Basic remembered (just checked) ms", True),
        ("first_page_count", "messages in first page", False),
        ("argon2_ms", "argon2 alone, pages' pace (torbit's runs) ms", False),
        ("fill_per_s", "fill: sends/s", True),
        ("wake_ms", "long-poll wake-up ms (median)", True),
        ("wake_p90_ms", "long-poll wake-up ms (p90)", True),
        ("wake_lean_ms", "long-poll wake-up, lean client, ms (median)", True),
        ("wake_lean_p90_ms", "long-poll wake-up, lean client, ms (p90)", True),
        ("rss_mb", "server RSS MB", True),
    ],
    "websocket": [
        ("deliveries_per_s", "deliveries/s", True),
        ("p50_ms", "p50 send→receive ms", True),
        ("p99_ms", "p99 send→receive ms", True),
        ("loss", "loss (deliveries)", False),
        ("cpu_us_per_delivery", "server CPU µs/delivery", True),
        ("server_cpu_util", "server CPU (cores)", False),
        ("connect_s", "connect + subscribe s (accounts included)", True),
        ("accounts_s", "of which accounts: register + token login s", False),
        ("accounts_cpu_s", "accounts: server CPU s", False),
        ("sockets_s", "of which sockets: open + subscribe until all receive s", True),
        ("sockets_cpu_s", "sockets: server CPU s", True),
        ("reconnect_s", "reconnect the same sockets (credentials known) s", True),
        ("rss_mb", "server RSS MB", True),
    ],
}


# ---------------------------------------------------------------- the bare reference server


def serve_reference(port: int, chat_frames: bool = True) -> None:
    """A minimal FastAPI app with the same routes, storing nothing. Its `/ws` broadcasts what
    a socket sends to every socket: with `chat_frames`, a `{"type": "send", "room", "text"}`
    frame as the message a chat server delivers (id, room, sender, time, text: the same JSON
    as torbit's), encoded once for all; without, the sent text as it came (22 bytes)."""
    app = FastAPI()
    sockets: set[WebSocket] = set()
    waiters: list[asyncio.Future[None]] = []
    sent = {"id": 0}
    static_message = {
        "id": 1,
        "room": ROOM,
        "sender": "someone",
        "text": "hello world",
        "sent_at": "2026-11-28T12:00:00Z",
    }
    page = [dict(static_message, id=i) for i in range(100)]

    @app.post("/send/{room}/{user}", status_code=201)
    async def send(room: str, user: str) -> JSONResponse:
        sent["id"] += 1
        for w in waiters:
            if not w.done():
                w.set_result(None)
        waiters.clear()
        return JSONResponse(
            dict(static_message, id=sent["id"], room=room, sender=user), status_code=201
        )

    @app.get("/receive/{room}/{user}")
    async def receive(room: str, user: str, limit: int = 100, wait: float = 0) -> JSONResponse:
        if wait > 0:  # a bare long poll: answer at the next send
            fut = asyncio.get_running_loop().create_future()
            waiters.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, wait)
            return JSONResponse({"messages": page[:1]})
        return JSONResponse({"messages": page[:limit]})

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        sockets.add(websocket)
        try:
            while True:
                text = await websocket.receive_text()
                if chat_frames:  # a chat message's shape, as torbit's `Delivery.json`
                    frame = json.loads(text)
                    sent["id"] += 1
                    text = json.dumps(
                        {
                            "type": "message",
                            "message": {
                                "id": sent["id"],
                                "room": frame["room"],
                                "sender": "sender",
                                "text": frame["text"],
                                "sent_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                                "kind": "text",
                                "recipient": None,
                            },
                        },
                        separators=SEPARATORS,
                    )
                for s in list(sockets):
                    try:
                        await s.send_text(text)
                    except Exception:
                        sockets.discard(s)
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    raise_open_files_limit()
    uvicorn.run(
        app,
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets",
        log_level="warning",
        backlog=4096,
    )


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_http(server: Server, port: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        server.check_alive()
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{server.kind}: HTTP port {port} not open:\n{server.tail()}"
                ) from None
            time.sleep(0.1)


def start_server(kind: str, reference_frames: str = "chat") -> Server:
    """The server's `port` attribute is its HTTP port."""
    port = free_port()
    if kind == "torbit":
        server = start_torbit(
            env={
                "TORBIT_HTTP__ENABLED": "true",
                "TORBIT_HTTP__HOST": HOST,
                "TORBIT_HTTP__PORT": str(port),
                "TORBIT_HTTP__WS_MAX_QUEUE": "10000",
            }
        )
    else:
        workdir = Path(tempfile.mkdtemp(prefix="torbit-bench-httpref-"))
        output = workdir / "server.log"
        with output.open("wb") as err:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--serve-reference",
                    str(port),
                    "--reference-frames",
                    reference_frames,
                ],
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        server = Server("reference", proc, port, workdir, output)
    server.port = port
    try:
        wait_http(server, port)
    except ServerError:
        server.stop()
        raise
    return server


# ---------------------------------------------------------------- helpers


def base(port: int) -> str:
    return f"http://{HOST}:{port}"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def r3(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


async def register(client: httpx.AsyncClient, names: list[str], concurrency: int = 20) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(name: str) -> None:
        async with sem:
            for attempt in range(3):  # a keep-alive connection the server just closed
                try:
                    r = await client.post(
                        "/api/v1/users", json={"name": name, "password": PASSWORD}
                    )
                    break
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    if attempt == 2:
                        raise
            if r.status_code == 409 and attempt:  # the lost attempt had made it
                return
            if r.status_code not in (200, 201):
                raise RuntimeError(f"register {name}: {r.status_code} {r.text[:200]}")

    await asyncio.gather(*(one(n) for n in names))


def argon2_alone(n: int = 10, gap: float = 0.01) -> list[float]:
    """Seconds per argon2id check at torbit's bench cost (servers.ARGON2_CHEAP), one every
    `gap` s as the first pages come, on a thread of this process: what a cold page's hash
    costs here and now. A hash on a machine left quiet between checks takes longer than in
    a loop of them (the 309/s of the crowd's logins): bench/JOURNAL.md, branch `receive`."""
    hasher = torbit_hasher(ARGON2_CHEAP)
    stored = hasher.hash(PASSWORD)
    took = []
    for _ in range(n):
        time.sleep(gap)
        t = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        took.append(time.perf_counter() - t)
    return took


def auth(kind: str, name: str) -> httpx.Auth:
    """Basic auth for torbit; the reference takes none (httpx.Auth() sends the request as is)."""
    return httpx.BasicAuth(name, PASSWORD) if kind == "torbit" else httpx.Auth()


def limits(n: int) -> httpx.Limits:
    """Idle connections are let go after 2 s, before both servers' 5 s keep-alive timeout:
    otherwise a request sent on a connection the server is closing fails (ReadError), which
    a busy machine makes frequent."""
    return httpx.Limits(max_connections=n, max_keepalive_connections=n, keepalive_expiry=2.0)


# ---------------------------------------------------------------- scenarios


async def scenario_send(kind: str, port: int, pid: int, args: argparse.Namespace) -> Result:
    n = args.clients
    names = [f"s{i:04d}" for i in range(n)]
    clients = [
        httpx.AsyncClient(base_url=base(port), auth=auth(kind, name), timeout=60, limits=limits(1))
        for name in names
    ]
    try:
        if kind == "torbit":
            await register(clients[0], names)
        latencies: list[float] = []
        errors = 0
        phase = {"measure": False, "stop": False}

        async def worker(c: httpx.AsyncClient, name: str) -> None:
            nonlocal errors
            i = 0
            while not phase["stop"]:
                i += 1
                t = time.perf_counter()
                r = await c.post(
                    f"/send/{ROOM}/{name}",
                    content=f"msg {i} from {name}",
                    headers={"content-type": "text/plain"},
                )
                dt = time.perf_counter() - t
                if phase["measure"]:
                    if r.status_code == 201:
                        latencies.append(dt)
                    else:
                        errors += 1

        tasks = [asyncio.create_task(worker(c, nm)) for c, nm in zip(clients, names, strict=True)]
        await asyncio.sleep(args.warmup)
        window(args, True)
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        phase["measure"] = True
        await asyncio.sleep(args.seconds)
        phase["measure"] = False
        cpu1, t1 = cpu_seconds(pid), time.perf_counter()
        window(args, False)
        phase["stop"] = True
        await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = t1 - t0
        done = len(latencies)
        return {
            "requests": done,
            "requests_per_s": round(done / elapsed, 1),
            "errors": errors,
            "p50_ms": r3(1000 * (pct(latencies, 0.5) or 0)),
            "p99_ms": r3(1000 * (pct(latencies, 0.99) or 0)),
            "cpu_us_per_request": r3(1e6 * (cpu1 - cpu0) / done) if done else None,
            "server_cpu_util": r3((cpu1 - cpu0) / elapsed),
            "rss_mb": round(rss_bytes(pid) / 2**20, 1),
        }
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def scenario_receive(kind: str, port: int, pid: int, args: argparse.Namespace) -> Result:
    readers = [f"r{i}" for i in range(args.readers)]
    # the same page again for readers whose Basic credentials were just checked (`/api/v1/me`
    # untimed before it): torbit's cache of verified credentials (30 s) is cold for the
    # first set when the fill took longer, and each of their pages pays a full argon2 check
    warm = [f"w{i}" for i in range(args.readers)]
    # and for readers holding a bearer token (`POST /api/v1/sessions`, untimed, before the
    # fill): what a polling client that logged in once pays, no password in the request
    bearers = [f"t{i}" for i in range(args.readers)]
    filler, waiter = "filler", "waiter"
    fill_room, lp_room = "backlog", "longpoll"
    conns = 20
    async with httpx.AsyncClient(base_url=base(port), timeout=60, limits=limits(conns)) as c:
        if kind == "torbit":
            await register(c, [*readers, *warm, *bearers, filler, waiter])
            for room in (fill_room, lp_room):  # the classic routes create no rooms
                resp = await c.put(
                    f"/api/v1/rooms/{room}/members/{filler}", auth=auth(kind, filler)
                )
                resp.raise_for_status()
        # readers join the room (their cursor starts here) before it is filled
        for r in [*readers, *warm, *bearers]:
            resp = await c.get(f"/receive/{fill_room}/{r}", params={"limit": 1}, auth=auth(kind, r))
            resp.raise_for_status()
        tokens: dict[str, dict[str, str]] = {}  # reader -> its request headers
        for r in bearers:
            tokens[r] = {}
            if kind == "torbit":
                resp = await c.post("/api/v1/sessions", json={"name": r, "password": PASSWORD})
                resp.raise_for_status()
                tokens[r] = {"Authorization": f"Bearer {resp.json()['token']}"}
        checked_at = time.perf_counter()  # the readers' credentials last checked
        # fill: `backlog` messages from one user over `conns` keep-alive connections
        counter = iter(range(args.backlog))
        fauth = auth(kind, filler)

        async def fill() -> None:
            for i in counter:
                resp = await c.post(
                    f"/send/{fill_room}/{filler}",
                    content=f"backlog {i}",
                    headers={"content-type": "text/plain"},
                    auth=fauth,
                )
                if resp.status_code != 201:
                    raise RuntimeError(f"fill: {resp.status_code} {resp.text[:200]}")

        t = time.perf_counter()
        await asyncio.gather(*(fill() for _ in range(conns)))
        fill_s = time.perf_counter() - t
        await asyncio.sleep(0.5)
        # the first page pays argon2 only once torbit no longer remembers the readers'
        # credentials (BASIC_CACHE_TTL, 30 s, since they joined): a quick fill left it a
        # warm page (seen in the `perf` branch's runs), so wait until then. The reference
        # waits as long: the first requests after a quiet spell are slower on any server
        # (caches gone cold; every connection idle past `limits` is opened again), and
        # only torbit's pages waited before (bench/JOURNAL.md, branch `receive`)
        cold_wait = max(0.0, CREDENTIALS_REMEMBERED_S + 1 - (time.perf_counter() - checked_at))
        await asyncio.sleep(cold_wait)
        # the first page of each reader's 10,000 unread
        window(args, True)  # --profile: the pages and the long polls, not the fill
        pages: list[float] = []
        counts: list[int] = []
        for r in readers:
            t = time.perf_counter()
            resp = await c.get(
                f"/receive/{fill_room}/{r}", params={"limit": 100}, auth=auth(kind, r)
            )
            pages.append(time.perf_counter() - t)
            resp.raise_for_status()
            counts.append(len(resp.json()["messages"]))
        token_pages: list[float] = []
        for r in bearers:
            t = time.perf_counter()
            resp = await c.get(
                f"/receive/{fill_room}/{r}", params={"limit": 100}, headers=tokens[r]
            )
            token_pages.append(time.perf_counter() - t)
            resp.raise_for_status()
            counts.append(len(resp.json()["messages"]))
        warm_pages: list[float] = []
        for r in warm:
            resp = await c.get("/api/v1/me", auth=auth(kind, r))  # the reference: a 404
            if kind == "torbit":
                resp.raise_for_status()
            t = time.perf_counter()
            resp = await c.get(
                f"/receive/{fill_room}/{r}", params={"limit": 100}, auth=auth(kind, r)
            )
            warm_pages.append(time.perf_counter() - t)
            resp.raise_for_status()
            counts.append(len(resp.json()["messages"]))
        # what the hash alone costs here at the pages' pace (torbit's cold pages pay one each)
        hashes = await asyncio.to_thread(argon2_alone) if kind == "torbit" else []
        # long-poll wake-up: a GET ?wait=30 in flight, then a send; send start → GET answer
        wauth = auth(kind, waiter)
        await c.get(f"/receive/{lp_room}/{waiter}", params={"limit": 1}, auth=wauth)
        await c.post(
            f"/send/{lp_room}/{filler}",
            content="join",
            headers={"content-type": "text/plain"},
            auth=fauth,
        )
        await c.get(f"/receive/{lp_room}/{waiter}", params={"limit": 1000}, auth=wauth)
        wakes: list[float] = []
        for i in range(args.polls):
            poll = asyncio.create_task(
                c.get(f"/receive/{lp_room}/{waiter}", params={"limit": 100, "wait": 30}, auth=wauth)
            )
            await asyncio.sleep(0.2)  # the poll is parked in the server
            if poll.done():
                raise RuntimeError(f"long poll answered early: {poll.result().text[:200]}")
            t = time.perf_counter()
            await c.post(
                f"/send/{lp_room}/{filler}",
                content=f"wake {i}",
                headers={"content-type": "text/plain"},
                auth=fauth,
            )
            resp = await poll
            wakes.append(time.perf_counter() - t)
            resp.raise_for_status()
            if not resp.json()["messages"]:
                raise RuntimeError("long poll woke with no message")
        # the same through the lean client (fresh connections, keep-alive for the polls)
        lean = await lean_wakes(kind, port, args.polls, waiter, filler, lp_room)
        window(args, False)
    return {
        "first_page_ms": r3(1000 * statistics.median(pages)),
        "first_page_ms_all": [r3(1000 * p) for p in pages],
        "first_page_token_ms": r3(1000 * statistics.median(token_pages)),
        "first_page_token_ms_all": [r3(1000 * p) for p in token_pages],
        "first_page_warm_ms": r3(1000 * statistics.median(warm_pages)),
        "first_page_warm_ms_all": [r3(1000 * p) for p in warm_pages],
        "first_page_count": statistics.median(counts),
        "argon2_ms": r3(1000 * statistics.median(hashes)) if hashes else None,
        "argon2_ms_all": [r3(1000 * h) for h in hashes],
        "fill_s": r3(fill_s),
        "fill_per_s": round(args.backlog / fill_s, 1),
        "cold_wait_s": r3(cold_wait),
        "wake_ms": r3(1000 * statistics.median(wakes)),
        "wake_p90_ms": r3(1000 * (pct(wakes, 0.9) or 0)),
        "wake_ms_all": [r3(1000 * w) for w in wakes],
        "wake_lean_ms": r3(1000 * statistics.median(lean)),
        "wake_lean_p90_ms": r3(1000 * (pct(lean, 0.9) or 0)),
        "wake_lean_ms_all": [r3(1000 * w) for w in lean],
        "rss_mb": round(rss_bytes(pid) / 2**20, 1),
    }


class LeanHttp(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection for the lean long-poll wake-up: requests are bytes
    encoded beforehand (Basic auth header included), a response is its status line, headers
    and a Content-Length body, parsed in `data_received`, which also stamps its arrival
    (`perf_counter`), so the time is the response's, not when the waiting task next runs.
    Like `LeanSocket`, it takes the client library's own cost out of what is measured."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiting: asyncio.Future[tuple[int, bytes, float]] | None = None

    @classmethod
    async def connect(cls, port: int) -> LeanHttp:
        _, conn = await asyncio.get_running_loop().create_connection(cls, HOST, port)
        return conn

    @staticmethod
    def encode(method: str, port: int, path: str, auth_header: str, body: bytes = b"") -> bytes:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{auth_header}"
            f"Content-Length: {len(body)}\r\n"
        )
        if body:
            head += "Content-Type: text/plain\r\n"
        return (head + "\r\n").encode() + body

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_exception(ConnectionError("the server closed the connection"))

    def request(self, raw: bytes) -> asyncio.Future[tuple[int, bytes, float]]:
        """Send `raw`; the future gets (status, body, perf_counter at its arrival)."""
        assert self.transport is not None and (self.waiting is None or self.waiting.done())
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiting

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).split(b"\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding" and self.waiting is not None:
                self.waiting.set_exception(RuntimeError("lean client: chunked response"))
                return
        if len(buf) < end + 4 + length:
            return
        body = bytes(buf[end + 4 : end + 4 + length])
        del buf[: end + 4 + length]
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result((int(head[0].split()[1]), body, at))


async def lean_wakes(
    kind: str, port: int, polls: int, waiter: str, filler: str, room: str
) -> list[float]:
    """The long-poll wake-up through `LeanHttp`: one connection parks the poll, another sends;
    send written → the poll's answer read, per poll."""

    def auth_header(name: str) -> str:
        if kind != "torbit":
            return ""
        token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
        return f"Authorization: Basic {token}\r\n"

    poll_raw = LeanHttp.encode(
        "GET", port, f"/receive/{room}/{waiter}?limit=100&wait=30", auth_header(waiter)
    )
    sends = [
        LeanHttp.encode(
            "POST", port, f"/send/{room}/{filler}", auth_header(filler), f"lean wake {i}".encode()
        )
        for i in range(polls)
    ]
    poller, sender = await LeanHttp.connect(port), await LeanHttp.connect(port)
    wakes: list[float] = []
    try:
        for raw in sends:
            poll = poller.request(poll_raw)
            await asyncio.sleep(0.2)  # the poll is parked in the server
            if poll.done():
                raise RuntimeError(f"lean long poll answered early: {poll.result()[:2]}")
            t = time.perf_counter()
            sent = sender.request(raw)
            status, body, at = await poll
            wakes.append(at - t)
            if status != 200 or not json.loads(body)["messages"]:
                raise RuntimeError(f"lean long poll: {status} {body[:200]!r}")
            status, body, _ = await sent
            if status != 201:
                raise RuntimeError(f"lean send: {status} {body[:200]!r}")
    finally:
        poller.close()
        sender.close()
    return wakes


class LeanSocket(asyncio.Protocol):
    """A subscriber's socket for `--ws-reader lean`: the handshake, then a bare parser of the
    server's frames (unmasked, unfragmented), pings answered; ~10x less client CPU a frame
    than the websockets library, so the generator saturates later (the same for both
    servers). Frames out are masked with a zero key, which leaves the payload as it is."""

    def __init__(self, on_text: Any, idx: int) -> None:
        self.on_text, self.idx = on_text, idx
        self.buf = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def connect(
        cls, port: int, path: str, authorization: str | None, on_text: Any, idx: int
    ) -> LeanSocket:
        loop = asyncio.get_running_loop()
        _, sock = await loop.create_connection(lambda: cls(on_text, idx), HOST, port)
        assert sock.transport is not None
        bearer = f"Authorization: {authorization}\r\n" if authorization else ""
        sock.transport.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                f"Sec-WebSocket-Version: 13\r\n{bearer}\r\n"
            ).encode()
        )
        await asyncio.wait_for(sock.opened, 120)
        return sock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))

    def send(self, text: str) -> None:
        data = text.encode()
        assert len(data) < 126 and self.transport is not None
        self.transport.write(bytes((0x81, 0x80 | len(data))) + b"\0\0\0\0" + data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.opened.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in bytes(buf[:end].split(b"\r\n", 1)[0]):
                self.opened.set_exception(ConnectionError(bytes(buf[:end]).decode()))
                return
            del buf[: end + 4]
            self.opened.set_result(None)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            op, size, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
            if size == 126:
                if n - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < head + size:
                break
            payload = bytes(buf[pos + head : pos + head + size])
            pos += head + size
            if op == 1:
                self.on_text(self.idx, payload.decode())
            elif op == 9 and self.transport is not None:  # ping: pong, masked
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            elif op == 8:
                self.close()
        del buf[:pos]


async def scenario_websocket(kind: str, port: int, pid: int, args: argparse.Namespace) -> Result:
    n = args.ws_clients
    names = [f"w{i:05d}" for i in range(n)]
    sender = "sender"
    latencies: list[float] = []
    received = [0]
    warm: set[int] = set()
    measuring = {"on": False}
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    leans: list[LeanSocket] = []

    def on_text(idx: int, text: str) -> None:
        now = time.monotonic_ns()
        if text[:1] == "{":  # torbit's frames, and the reference's chat frames
            frame = json.loads(text)
            if frame.get("type") != "message":
                return
            text = frame["message"]["text"]
        parts = text.split()
        if len(parts) != 3 or parts[0] != "bench":
            return
        if parts[2] == "warm":
            warm.add(idx)
        elif measuring["on"]:
            received[0] += 1
            latencies.append((now - int(parts[1])) / 1e6)

    async def reader(idx: int, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in ws:
                on_text(idx, text)

    async def discard(ws: Any) -> None:  # the sender's socket: its own messages come back
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _text in ws:
                pass

    async with httpx.AsyncClient(base_url=base(port), timeout=120, limits=limits(50)) as c:
        t_connect, cpu_connect = time.perf_counter(), cpu_seconds(pid)
        authorizations: list[str | None] = [None] * n
        sender_token = None
        if kind == "torbit":
            await register(c, [*names, sender], concurrency=50)
            sem = asyncio.Semaphore(50)

            async def token(i: int) -> None:
                async with sem:
                    r = await c.post(
                        "/api/v1/sessions", json={"name": names[i], "password": PASSWORD}
                    )
                    r.raise_for_status()
                    authorizations[i] = f"Bearer {r.json()['token']}"

            if args.ws_auth == "token":
                await asyncio.gather(*(token(i) for i in range(n)))
            else:  # the handshake carries the name and password; no token login
                for i, name in enumerate(names):
                    raw = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
                    authorizations[i] = f"Basic {raw}"
            r = await c.post("/api/v1/sessions", json={"name": sender, "password": PASSWORD})
            r.raise_for_status()
            sender_token = r.json()["token"]
        window(args, True, "sockets")
        t_sockets, cpu_sockets = time.perf_counter(), cpu_seconds(pid)
        path = "/api/v1/ws" if kind == "torbit" else "/ws"
        sem = asyncio.Semaphore(100)

        async def connect(i: int) -> None:
            async with sem:
                if args.ws_reader == "lean":
                    lean = await LeanSocket.connect(port, path, authorizations[i], on_text, i)
                    if kind == "torbit":
                        lean.send(json.dumps({"type": "subscribe", "room": ROOM}))
                    leans.append(lean)
                    return
                auth_i = authorizations[i]
                headers = {"Authorization": auth_i} if auth_i else None
                ws = await websockets.connect(
                    f"ws://{HOST}:{port}{path}",
                    additional_headers=headers,
                    max_queue=None,
                    open_timeout=120,
                    ping_interval=None,
                    compression=None,
                )
                if kind == "torbit":
                    await ws.send(json.dumps({"type": "subscribe", "room": ROOM}))
                sockets.append(ws)
                readers.append(asyncio.create_task(reader(i, ws)))

        try:
            await asyncio.gather(*(connect(i) for i in range(n)))
            sauth = auth(kind, sender)
            sender_ws = None
            # the reference's sender always sends over its own socket; torbit's too unless
            # `--sender http` (then by POST /send, as before 2026-12-01)
            if kind == "reference" or args.sender == "ws":
                headers = {"Authorization": f"Bearer {sender_token}"} if sender_token else None
                sender_ws = await websockets.connect(
                    f"ws://{HOST}:{port}{path}",
                    additional_headers=headers,
                    ping_interval=None,
                    compression=None,
                )
                if kind == "torbit":  # torbit's sender sends to a room it is in
                    await sender_ws.send(json.dumps({"type": "subscribe", "room": ROOM}))
                sockets.append(sender_ws)
                readers.append(asyncio.create_task(discard(sender_ws)))
            text_frames = kind == "reference" and args.reference_frames == "text"

            async def send(text: str) -> None:
                if sender_ws is not None:
                    await sender_ws.send(
                        text
                        if text_frames
                        else json.dumps({"type": "send", "room": ROOM, "text": text})
                    )
                else:
                    r = await c.post(
                        f"/send/{ROOM}/{sender}",
                        content=text,
                        auth=sauth,
                        headers={"content-type": "text/plain"},
                    )
                    if r.status_code != 201:
                        raise RuntimeError(f"send: {r.status_code} {r.text[:200]}")

            async def warm_up(interval: float) -> None:
                """One message at a time until every subscriber has one."""
                deadline = time.monotonic() + 120
                while len(warm) < n:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {len(warm)}/{n} subscribers receive")
                    await send(f"bench {time.monotonic_ns()} warm")
                    await asyncio.sleep(interval)

            await warm_up(1.0)
            connect_s = time.perf_counter() - t_connect
            sockets_s = time.perf_counter() - t_sockets
            sockets_cpu_s = cpu_seconds(pid) - cpu_sockets
            window(args, False, "sockets")
            await asyncio.sleep(0.5)
            # no collection of the generator's own heap (1,000 connections) in the measured
            # window: 300 of them took 1.4 s of a 14 s window here (the longest 132 ms), a
            # pause in every latency it measures, whichever server it measures
            gc.collect()
            gc.freeze()
            gc.disable()
            # measured: `rate` messages/s for `seconds`
            received[0] = 0
            latencies.clear()
            measuring["on"] = True
            total = int(args.rate * args.seconds)
            window(args, True)
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            start = time.monotonic()
            pending: list[asyncio.Task[None]] = []
            for i in range(total):
                delay = start + i / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(send(f"bench {time.monotonic_ns()} {i}")))
            await asyncio.gather(*pending)
            expected = total * n
            drain_deadline = time.monotonic() + args.drain
            while received[0] < expected and time.monotonic() < drain_deadline:
                await asyncio.sleep(0.05)
            cpu1, t1 = cpu_seconds(pid), time.perf_counter()
            window(args, False)
            measuring["on"] = False
            elapsed = t1 - t0
            got = received[0]
            rss_mb = round(rss_bytes(pid) / 2**20, 1)
            gc.enable()
            reconnect_s = None
            if args.ws_reader == "lean":
                # the same subscribers again, with the credentials they just used: what a
                # page reload or a dropped network costs (torbit: no new account or token)
                for lean in leans:
                    lean.close()
                leans.clear()
                await asyncio.sleep(2.0)  # the server has seen them go
                warm.clear()
                t_again = time.perf_counter()
                await asyncio.gather(*(connect(i) for i in range(n)))
                await warm_up(0.2)
                reconnect_s = time.perf_counter() - t_again
            return {
                "messages": total,
                "deliveries": got,
                "deliveries_per_s": round(got / elapsed, 1),
                "loss": expected - got,
                "p50_ms": r3(pct(latencies, 0.5)),
                "p99_ms": r3(pct(latencies, 0.99)),
                "cpu_us_per_delivery": r3(1e6 * (cpu1 - cpu0) / got) if got else None,
                "server_cpu_util": r3((cpu1 - cpu0) / elapsed),
                "connect_s": r3(connect_s),
                "sockets_s": r3(sockets_s),
                "accounts_s": r3(t_sockets - t_connect),
                "accounts_cpu_s": r3(cpu_sockets - cpu_connect),
                "sockets_cpu_s": r3(sockets_cpu_s),
                "reconnect_s": r3(reconnect_s),
                "rss_mb": rss_mb,
            }
        finally:
            gc.enable()
            gc.unfreeze()
            for lean in leans:
                lean.close()
            for t in readers:
                t.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            await asyncio.gather(
                *(asyncio.wait_for(ws.close(), 5) for ws in sockets), return_exceptions=True
            )


SCENARIOS = {"send": scenario_send, "receive": scenario_receive, "websocket": scenario_websocket}


# ---------------------------------------------------------------- running and reporting


def window(args: argparse.Namespace, started: bool, phase: str = "window") -> None:
    """Record the torbit server's `--profile-phase` with py-spy under `--profile`: the
    measured window, or the WebSocket scenario's sockets part (open + subscribe)."""
    if args.recorder is not None and phase == args.profile_phase:
        args.recorder.window(started)


async def run_once(scenario: str, kind: str, args: argparse.Namespace) -> Result:
    try:
        server = await asyncio.to_thread(start_server, kind, args.reference_frames)
    except ServerError as e:
        return {"error": str(e)}
    args.recorder = None
    if args.profile is not None and kind == "torbit":
        args.profile.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        args.recorder = Recorder(server.pid, args.profile / f"{stamp}-http-{scenario}.txt")
    try:
        result = await SCENARIOS[scenario](kind, server.port, server.pid, args)
        server.check_alive()
    except Exception as e:  # one failed run must not lose the others
        result = {
            "error": f"{type(e).__name__}: {e}",
            "server_output": server.tail(),
            "trace": traceback.format_exc(),
        }
    finally:
        if args.recorder is not None:
            words = await asyncio.to_thread(args.recorder.stop)
            if args.recorder.output.exists():
                log(f"profile {args.recorder.output}: {words}\n{hottest(args.recorder.output)}")
            args.recorder = None
        code = await asyncio.to_thread(server.stop)
        server.cleanup()
        gc.collect()
    result["exit_code"] = code
    return result


def median(values: list[Any]) -> float | None:
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return statistics.median(nums) if nums else None


def summarize(scenario: str, runs: dict[str, list[Result]]) -> Result:
    """Medians per server, and the median of per-repeat ratios torbit ÷ reference."""
    keys = sorted({k for rs in runs.values() for r in rs for k in r})
    med = {kind: {k: median([r.get(k) for r in rs]) for k in keys} for kind, rs in runs.items()}
    ratios: dict[str, float | None] = {}
    pairs = list(zip(runs.get("reference", []), runs.get("torbit", []), strict=False))
    for key, _label, _ratio in ROWS[scenario]:
        per = [
            tb[key] / ref[key]
            for ref, tb in pairs
            if isinstance(ref.get(key), int | float)
            and ref[key]
            and isinstance(tb.get(key), int | float)
        ]
        ratios[key] = statistics.median(per) if per else None
    return {"runs": runs, "median": med, "ratio": ratios}


def table(scenario: str, summary: Result) -> str:
    med, ratios = summary["median"], summary["ratio"]
    lines = [
        f"### http {scenario}",
        "",
        "| metric | reference | torbit | torbit ÷ ref |",
        "|---|---:|---:|---:|",
    ]
    for key, label, show_ratio in ROWS[scenario]:
        ref_v, tb_v = med.get("reference", {}).get(key), med.get("torbit", {}).get(key)
        ratio = f"{ratios[key]:.2f}" if show_ratio and ratios[key] is not None else ""
        lines.append(f"| {label} | {fmt(ref_v)} | {fmt(tb_v)} | {ratio} |")
    errors = [
        f"- {kind} run {i + 1}: {r['error'].splitlines()[0]}"
        for kind, rs in summary["runs"].items()
        for i, r in enumerate(rs)
        if "error" in r
    ]
    return "\n".join(lines + (["", *errors] if errors else []))


async def main_async(args: argparse.Namespace) -> Result:
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    kinds = [k for k in KINDS if k in args.servers.split(",")]
    report: Result = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": vars(args),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg": os.getloadavg(),
        },
        "scenarios": {},
    }
    for scenario in scenarios:
        runs: dict[str, list[Result]] = {k: [] for k in kinds}
        for rep in range(args.repeat):
            for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                log(f"{scenario} {kind} run {rep + 1}/{args.repeat} ...")
                t = time.monotonic()
                r = await run_once(scenario, kind, args)
                runs[kind].append(r)
                shown = {k: r.get(k) for k, _l, _r in ROWS[scenario][:4]}
                log(f"  {time.monotonic() - t:.1f} s: {r.get('error') or shown}")
        summary = report["scenarios"][scenario] = summarize(scenario, runs)
        print(table(scenario, summary) + "\n", flush=True)
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    p.add_argument("--repeat", type=int, default=3, help="runs per server; medians reported")
    p.add_argument("--servers", default="reference,torbit", help="comma-separated subset")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window")
    p.add_argument("--warmup", type=float, default=2.0, help="send: traffic before measuring")
    p.add_argument("--clients", type=int, default=50, help="send: concurrent clients")
    p.add_argument("--backlog", type=int, default=10_000, help="receive: unread messages")
    p.add_argument("--readers", type=int, default=5, help="receive: fresh readers timed")
    p.add_argument("--polls", type=int, default=20, help="receive: long-poll wake-ups timed")
    p.add_argument("--ws-clients", type=int, default=1000, help="websocket: subscribers")
    p.add_argument("--rate", type=float, default=20.0, help="websocket: messages/s sent")
    p.add_argument(
        "--drain",
        type=float,
        default=10.0,
        help="websocket: seconds to wait for the last deliveries",
    )
    p.add_argument(
        "--profile",
        type=Path,
        nargs="?",
        const=BENCH_DIR / "results",
        default=None,
        help="py-spy record torbit's measured window into this directory",
    )
    p.add_argument(
        "--profile-phase",
        choices=("window", "sockets"),
        default="window",
        help="what --profile records: the measured window, or the websocket "
        "scenario's sockets part (open + subscribe until all receive)",
    )
    p.add_argument(
        "--reference-frames",
        choices=("chat", "text"),
        default="chat",
        help="websocket: the reference delivers a chat message's JSON (as torbit "
        "does) or the sent text as it came (before 2026-12-01)",
    )
    p.add_argument(
        "--sender",
        choices=("ws", "http"),
        default="ws",
        help="websocket: torbit's sender sends over its own WebSocket (as the "
        "reference's does) or by POST /send (before 2026-12-01)",
    )
    p.add_argument(
        "--ws-reader",
        choices=("lean", "websockets"),
        default="lean",
        help="websocket: the subscribers' client: a bare frame parser, or the "
        "websockets library (before 2026-12-01; it made the generator the "
        "bottleneck)",
    )
    p.add_argument(
        "--ws-auth",
        choices=("token", "basic"),
        default="token",
        help="websocket: torbit's subscribers log in for a token (POST "
        "/api/v1/sessions, as the web page does) and open their socket with "
        "it, or open it with Basic credentials in the handshake",
    )
    p.add_argument("--serve-reference", type=int, metavar="PORT", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.recorder = None
    if args.serve_reference is not None:
        serve_reference(args.serve_reference, args.reference_frames == "chat")
        return 0
    raise_open_files_limit()
    report = uvloop.run(main_async(args))
    runs = (r for s in report["scenarios"].values() for rs in s["runs"].values() for r in rs)
    return saved(report, f"http-{args.scenario}", runs)


if __name__ == "__main__":
    sys.exit(main())
