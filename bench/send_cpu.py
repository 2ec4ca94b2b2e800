"""Server CPU per classic `POST /send`, torbit beside the bare FastAPI reference in the same
run, through a bare keep-alive HTTP/1.1 client (`LeanHttp`), so the client's own cost (httpx
saturates a core in `http_bench.py --scenario send`) neither limits the rate nor blurs a
cut of a few µs a request.

    .venv/bin/python bench/send_cpu.py                       # 3 repeats, 20 senders
    .venv/bin/python bench/send_cpu.py --senders 1           # one request at a time
    .venv/bin/python bench/send_cpu.py --repeat 1 --profile  # py-spy over torbit's sends

A fresh server of each kind per repeat (the order alternating between repeats). For torbit:
`--senders` users (bench settings: servers.py), each checked once with Basic credentials
(remembered for 30 s, so no send pays argon2), join the room; then every sender keeps one
`POST /send/{room}/{user}` in flight on its own connection for `--sends` requests in all.
Reported: server CPU µs per send (`/proc/PID/stat` over the sends alone) and the median
request → answer ms. Run torbit from another tree with `PYTHONPATH=/that/tree/src`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
import uvloop

from http_bench import PASSWORD, LeanHttp, base, limits, register, start_server
from procstat import cpu_seconds
from profiles import Recorder, hottest, stamped
from reports import log
from servers import BENCH_DIR

ROOM = "sends"


def header(name: str) -> str:
    token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


async def prepare(port: int, names: list[str]) -> None:
    """Accounts, each checked once (so remembered) and a member of ROOM."""
    async with httpx.AsyncClient(base_url=base(port), timeout=60, limits=limits(20)) as c:
        await register(c, names)
        for name in names:
            auth = httpx.BasicAuth(name, PASSWORD)
            (await c.put(f"/api/v1/rooms/{ROOM}/members/{name}", auth=auth)).raise_for_status()


async def once(kind: str, args: argparse.Namespace, profile: Path | None) -> dict[str, float]:
    server = await asyncio.to_thread(start_server, kind)
    port, pid = server.port, server.pid
    names = [f"u{i:03d}" for i in range(args.senders)]
    try:
        if kind == "torbit":
            await prepare(port, names)
        conns = [await LeanHttp.connect(port) for _ in names]
        left = args.warmup + args.sends
        times: list[float] = []
        measuring = asyncio.Event()

        async def sender(conn: LeanHttp, name: str) -> None:
            nonlocal left
            i = 0
            while left > 0:
                left -= 1
                i += 1
                body = f"message {i} from {name}".encode()
                raw = LeanHttp.encode("POST", port, f"/send/{ROOM}/{name}", header(name), body)
                t = time.perf_counter()
                status, answer, at = await conn.request(raw)
                if status != 201:
                    raise RuntimeError(f"{kind} send: {status} {answer[:200]!r}")
                if measuring.is_set():
                    times.append(at - t)
                if left == args.sends:  # the warm-up's last request is answered
                    measuring.set()

        recorder = Recorder(pid, profile) if profile is not None and kind == "torbit" else None
        tasks = [asyncio.create_task(sender(c, n)) for c, n in zip(conns, names, strict=True)]
        await measuring.wait()
        cpu0 = cpu_seconds(pid)
        if recorder is not None:
            recorder.window(True)
        await asyncio.gather(*tasks)
        cpu = cpu_seconds(pid) - cpu0
        if recorder is not None and profile is not None:
            words = await asyncio.to_thread(recorder.stop)
            log(f"profile {profile}: {words}\n{hottest(profile)}")
        for conn in conns:
            conn.close()
        n = len(times)
        return {
            "cpu_us_per_send": round(1e6 * cpu / n, 1),
            "send_ms": round(1000 * statistics.median(times), 3),
            "sends": n,
        }
    finally:
        await asyncio.to_thread(server.stop)
        server.cleanup()


async def main_async(args: argparse.Namespace) -> list[dict[str, dict[str, float]]]:
    runs = []
    for i in range(args.repeat):
        profile = stamped("send-cpu.txt") if args.profile else None
        order = ["reference", "torbit"] if i % 2 == 0 else ["torbit", "reference"]
        run = {kind: await once(kind, args, profile) for kind in order}
        log(f"run {i + 1}/{args.repeat}: {run}")
        runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--senders", type=int, default=20, help="connections, one request each")
    p.add_argument("--sends", type=int, default=5_000, help="measured sends in all")
    p.add_argument("--warmup", type=int, default=1_000, help="sends before the measure")
    p.add_argument("--profile", action="store_true", help="py-spy record torbit's sends")
    args = p.parse_args(argv)
    runs = uvloop.run(main_async(args))
    print(f"### POST /send: {args.senders} senders, {args.sends} sends, medians of {args.repeat}")
    print("\n| metric | reference | torbit | ÷ reference |\n|---|---:|---:|---:|")
    for key, label in (("cpu_us_per_send", "server CPU µs a send"), ("send_ms", "send ms")):
        ref = statistics.median(r["reference"][key] for r in runs)
        tor = statistics.median(r["torbit"][key] for r in runs)
        worst = max(r["torbit"][key] for r in runs)
        ratio = statistics.median(r["torbit"][key] / r["reference"][key] for r in runs)
        print(f"| {label} | {ref} | {tor} ({worst}) | {ratio:.2f} |")
    out = stamped("send-cpu.json")
    out.write_text(json.dumps({"args": vars(args) | {"profile": args.profile}, "runs": runs}))
    print(f"\nwrote {out.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
