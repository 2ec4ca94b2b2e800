"""The long poll's wake-up, stage by stage inside torbit: `POST /send` → the message durable
(the log's publish) → the hub's fan-out wakes the parked poll (`Wakeup.deliver`) → the poll
runs again and answers from what woke it (`Messaging.receive_woken`: its cursor write, a
store statement on the aiosqlite thread) → the page's JSON → the answer read by the client.

torbit runs in a subprocess of this script (`--serve`: the bench's settings, as `torbit
serve` would run, with time stamps taken by wrappers around those calls, on the loop's
clock, `time.perf_counter`, shared by both processes on Linux); the client is the bench's
lean one (`http_bench.lean_wakes`). Run it under the bench lock with the tree to measure on
`PYTHONPATH`:

    flock /tmp/bench.lock python bench/wake_stages.py --polls 40"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from http_bench import auth, base, lean_wakes, register, wait_http
from procstat import free_port
from servers import HOST, Server, _spawn, torbit_env

MARK = "lean wake"  # the texts of the timed sends (http_bench.lean_wakes)


def serve(stamps_path: Path) -> None:
    """torbit with wrappers that stamp each stage of a timed wake-up; the stamps are written
    to `stamps_path` on SIGTERM."""
    import uvloop

    from torbit.app import App
    from torbit.config import load_settings
    from torbit.core.wakeup import Wakeup
    from torbit.frontends.http import classic

    stamps: list[tuple[str, float]] = []
    now = time.perf_counter

    async def main() -> None:
        app = App(load_settings())
        await app.start()
        core = app.core
        assert core is not None
        messaging: Any = core.messaging
        log, store = messaging._log, messaging._store
        send, publish = messaging.send, log.publish
        woken, set_cursor = messaging.receive_woken, store.set_cursor
        deliver, page_json = Wakeup.deliver, classic.page_json  # type: ignore[attr-defined]
        timed = [False]

        async def send_stamped(user: str, room: str, text: str, *a: Any, **k: Any) -> Any:
            if text.startswith(MARK):
                stamps.append(("send", now()))
            return await send(user, room, text, *a, **k)

        async def publish_stamped(drafts: Any) -> Any:
            out = await publish(drafts)
            if drafts and drafts[0].text.startswith(MARK):
                stamps.append(("durable", now()))
            return out

        def deliver_stamped(self: Wakeup, delivery: Any) -> None:
            if delivery.message.text.startswith(MARK):
                stamps.append(("woken", now()))
            deliver(self, delivery)

        async def woken_stamped(user: str, room: str, after: Any, msgs: Any, *a: Any) -> Any:
            timed[0] = bool(msgs) and msgs[-1].text.startswith(MARK)
            if timed[0]:
                stamps.append(("poll runs", now()))
            try:
                return await woken(user, room, after, msgs, *a)
            finally:
                if timed[0]:
                    stamps.append(("answer known", now()))

        async def cursor_stamped(*a: Any, **k: Any) -> Any:
            if timed[0]:
                stamps.append(("cursor write begins", now()))
            return await set_cursor(*a, **k)

        def json_stamped(messages: Any) -> Any:
            out = page_json(messages)
            if timed[0]:
                stamps.append(("json built", now()))
            return out

        messaging.send, log.publish = send_stamped, publish_stamped
        messaging.receive_woken, store.set_cursor = woken_stamped, cursor_stamped
        Wakeup.deliver = deliver_stamped  # type: ignore[method-assign]
        classic.page_json = json_stamped  # type: ignore[attr-defined]
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("READY", flush=True)
        await stop.wait()
        await asyncio.to_thread(stamps_path.write_text, json.dumps(stamps))
        await app.stop()

    uvloop.run(main())


async def measure(port: int, polls: int) -> list[float]:
    async with httpx.AsyncClient(base_url=base(port), timeout=30) as c:
        await register(c, ["filler", "waiter"])
        for name in ("filler", "waiter"):
            r = await c.put(f"/api/v1/rooms/longpoll/members/{name}", auth=auth("torbit", name))
            r.raise_for_status()
        await c.post(
            "/send/longpoll/filler",
            content="join",
            headers={"content-type": "text/plain"},
            auth=auth("torbit", "filler"),
        )
        r = await c.get(
            "/receive/longpoll/waiter", params={"limit": 1000}, auth=auth("torbit", "waiter")
        )
        r.raise_for_status()
    return await lean_wakes("torbit", port, polls, "waiter", "filler", "longpoll")


def stages(stamps: list[tuple[str, float]]) -> list[dict[str, float]]:
    """Each wake-up's stamps, from one "send" to the next."""
    out: list[dict[str, float]] = []
    for name, t in stamps:
        if name == "send":
            out.append({})
        if out:
            out[-1].setdefault(name, t)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--polls", type=int, default=40)
    p.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="torbit-wake-"))
    port, telnet = free_port(), free_port()
    env = {
        **torbit_env(workdir, telnet, 60.0),
        "TORBIT_HTTP__ENABLED": "true",
        "TORBIT_HTTP__HOST": HOST,
        "TORBIT_HTTP__PORT": str(port),
    }
    stamps_path = workdir / "stamps.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(stamps_path)]
    proc, output = _spawn(
        cmd, workdir, {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}, None
    )
    server = Server("torbit", proc, port, workdir, output)
    try:
        wait_http(server, port)
        t0 = time.perf_counter()
        totals = asyncio.run(measure(port, args.polls))
        elapsed = time.perf_counter() - t0
    finally:
        server.stop()
    per_wake = stages(json.loads(stamps_path.read_text()))[-len(totals) :]
    server.cleanup()
    # the hub wakes the poll as the log commits, before the sender's publish returns
    order = [
        "send",
        "woken",
        "poll runs",
        "cursor write begins",
        "answer known",
        "json built",
    ]
    rows: dict[str, list[float]] = {}
    for wake, total in zip(per_wake, totals, strict=True):
        if "durable" in wake:
            rows.setdefault("send → its publish returns (durable)", []).append(
                wake["durable"] - wake["send"]
            )
        for a, b in itertools.pairwise(order):
            if a in wake and b in wake:
                rows.setdefault(f"{a} → {b}", []).append(wake[b] - wake[a])
        if "json built" in wake:  # the rest: the send's request in, the answer out
            rows.setdefault("outside those: requests in and out", []).append(
                total - (wake["json built"] - wake["send"])
            )
        rows.setdefault("whole wake (client)", []).append(total)
    report = {
        k: {
            "median_ms": round(1000 * statistics.median(v), 3),
            "worst_ms": round(1000 * max(v), 3),
            "n": len(v),
        }
        for k, v in rows.items()
    }
    print(json.dumps(report, indent=1))
    print(f"({elapsed:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
