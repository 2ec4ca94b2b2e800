"""Server CPU per classic `GET /receive` page, credentials remembered (no argon2 in the
request): what the route costs besides the password hash, measured over many pages.

    .venv/bin/python bench/receive_cpu.py                       # 3 repeats, Basic and token
    .venv/bin/python bench/receive_cpu.py --repeat 1 --profile  # py-spy over the pages
    .venv/bin/python bench/receive_cpu.py --auth token          # bearer tokens only

`--auth`: the readers send Basic credentials the server remembers (checked just before), or
a bearer token from `POST /api/v1/sessions` (before the fill), or `both`: a set of readers
each, in the same server, measured one set after the other (the order alternating between
repeats), each reported on its own.

A fresh torbit (HTTP on, SQLite in a temp dir, bench settings: servers.py) per repeat;
`--readers` users join the room `backlog`, `--backlog` messages are posted, then each reader
reads `--pages` pages of `limit=100` one after the other through `LeanHttp` (a bare keep-alive
HTTP/1.1 client, so the client's own cost stays out of the server's). Every page read is a
full page of 100 (checked), each from where the last one left the reader's cursor. Reported:
server CPU µs per page (`/proc/PID/stat` over the pages alone), and the median and p90 of
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

from http_bench import PASSWORD, LeanHttp, base, limits, pct, register, start_server
from procstat import cpu_seconds
from profiles import Recorder, hottest, stamped
from reports import log

ROOM = "backlog"


def header(name: str) -> str:
    token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


async def once(
    args: argparse.Namespace, profile: Path | None, order: list[str]
) -> dict[str, dict[str, float]]:
    server = await asyncio.to_thread(start_server, "torbit")
    port, pid = server.port, server.pid
    sets = {kind: [f"{kind[0]}{i}" for i in range(args.readers)] for kind in order}
    readers = [r for names in sets.values() for r in names]
    headers = {r: header(r) for r in readers}
    try:
        async with httpx.AsyncClient(base_url=base(port), timeout=60, limits=limits(20)) as c:
            await register(c, [*readers, "filler"])
            for r in sets.get("token", []):
                resp = await c.post("/api/v1/sessions", json={"name": r, "password": PASSWORD})
                resp.raise_for_status()
                headers[r] = f"Authorization: Bearer {resp.json()['token']}\r\n"
            fauth = httpx.BasicAuth("filler", PASSWORD)
            (await c.put(f"/api/v1/rooms/{ROOM}/members/filler", auth=fauth)).raise_for_status()
            for r in readers:  # each reader's cursor starts here
                resp = await c.get(
                    f"/receive/{ROOM}/{r}", params={"limit": 1}, auth=httpx.BasicAuth(r, PASSWORD)
                )
                resp.raise_for_status()
            counter = iter(range(args.backlog))

            async def fill() -> None:
                for i in counter:
                    resp = await c.post(
                        f"/send/{ROOM}/filler",
                        content=f"backlog {i}",
                        headers={"content-type": "text/plain"},
                        auth=fauth,
                    )
                    if resp.status_code != 201:
                        raise RuntimeError(f"fill: {resp.status_code} {resp.text[:200]}")

            await asyncio.gather(*(fill() for _ in range(20)))
            for r in sets.get("basic", []):  # just checked: remembered for 30 s (auth.py)
                (await c.get("/api/v1/me", auth=httpx.BasicAuth(r, PASSWORD))).raise_for_status()
        await asyncio.sleep(0.5)
        results = {}
        for kind, names in sets.items():
            conns = [await LeanHttp.connect(port) for _ in names]
            raws = [
                LeanHttp.encode("GET", port, f"/receive/{ROOM}/{r}?limit=100", headers[r])
                for r in names
            ]
            output = None if profile is None else profile.with_name(f"{profile.stem}-{kind}.txt")
            recorder = Recorder(pid, output) if output is not None else None
            if recorder is not None:
                recorder.window(True)
                await asyncio.sleep(0.5)
            times: list[float] = []
            cpu0 = cpu_seconds(pid)
            for _ in range(args.pages):
                for conn, raw in zip(conns, raws, strict=True):
                    t = time.perf_counter()
                    status, body, at = await conn.request(raw)
                    times.append(at - t)
                    if status != 200 or len(json.loads(body)["messages"]) != 100:
                        raise RuntimeError(f"page: {status} {body[:200]!r}")
            cpu = cpu_seconds(pid) - cpu0
            if recorder is not None and output is not None:
                words = await asyncio.to_thread(recorder.stop)
                log(f"profile {output}: {words}\n{hottest(output)}")
            for conn in conns:
                conn.close()
            n = len(times)
            results[kind] = {
                "cpu_us_per_page": round(1e6 * cpu / n, 1),
                "page_ms": round(1000 * statistics.median(times), 3),
                "page_p90_ms": round(1000 * (pct(times, 0.9) or 0), 3),
                "pages": n,
            }
        return results
    finally:
        await asyncio.to_thread(server.stop)
        server.cleanup()


async def main_async(args: argparse.Namespace) -> list[dict[str, dict[str, float]]]:
    kinds = ["basic", "token"] if args.auth == "both" else [args.auth]
    runs = []
    for i in range(args.repeat):
        profile = stamped("receive-cpu.txt") if args.profile else None
        r = await once(args, profile, kinds if i % 2 == 0 else kinds[::-1])
        log(f"run {i + 1}/{args.repeat}: {r}")
        runs.append(r)
    return runs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--readers", type=int, default=5)
    p.add_argument("--pages", type=int, default=20, help="pages of 100 per reader")
    p.add_argument("--backlog", type=int, default=2_500)
    p.add_argument("--profile", action="store_true", help="py-spy record the pages")
    p.add_argument("--auth", choices=("basic", "token", "both"), default="both")
    args = p.parse_args(argv)
    if args.backlog < 100 * args.pages + 1:
        p.error("--backlog must hold every reader's --pages pages of 100")
    runs = uvloop.run(main_async(args))
    for kind in runs[0]:
        cpu = [r[kind]["cpu_us_per_page"] for r in runs]
        wall = [r[kind]["page_ms"] for r in runs]
        print(
            f"{kind}: server CPU µs/page: median {statistics.median(cpu)} (worst {max(cpu)}); "
            f"page ms: median {statistics.median(wall)} (worst {max(wall)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
