"""How long a wrong password takes on classic `GET /receive`, by who the request names: a
member with a page unread, a member with nothing unread, a registered non-member, and a
name no account has: a wrong password must not tell them apart (the `overlap` branch, which
read the page while the hash ran, did by ~0.1 ms and was not merged for it; bench/JOURNAL.md). Run it against either tree with
`PYTHONPATH=/that/tree/src`, under the bench lock:

    flock /tmp/bench.lock python bench/wrong_password_timing.py --rounds 60

The login back-off is off (every request is a wrong password from one address); the four
kinds are asked in a shuffled order each round, one request every `--gap` seconds."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time

import httpx

from http_bench import auth, base, register, wait_http
from procstat import free_port
from servers import HOST, start_torbit

KINDS = {
    "unread": "member",
    "caught_up": "reader",
    "non_member": "outsider",
    "no_account": "nobody",
}


async def measure(port: int, rounds: int, backlog: int, gap: float) -> dict[str, list[float]]:
    async with httpx.AsyncClient(base_url=base(port), timeout=30) as c:
        await register(c, ["member", "reader", "outsider", "filler"])
        for name in ("filler", "member", "reader"):
            r = await c.put(f"/api/v1/rooms/backlog/members/{name}", auth=auth("torbit", name))
            r.raise_for_status()
        for i in range(backlog):
            r = await c.post(
                "/send/backlog/filler",
                content=f"backlog {i}",
                headers={"content-type": "text/plain"},
                auth=auth("torbit", "filler"),
            )
            r.raise_for_status()
        r = await c.get(
            "/receive/backlog/reader", params={"limit": 1000}, auth=auth("torbit", "reader")
        )
        r.raise_for_status()
        times: dict[str, list[float]] = {k: [] for k in KINDS}
        order = list(KINDS)
        for _ in range(rounds):
            random.shuffle(order)
            for kind in order:
                name = KINDS[kind]
                await asyncio.sleep(gap)
                t = time.perf_counter()
                r = await c.get(
                    f"/receive/backlog/{name}", params={"limit": 100}, auth=(name, "wrong-password")
                )
                times[kind].append(time.perf_counter() - t)
                if r.status_code != 401:
                    raise RuntimeError(f"{kind}: {r.status_code} {r.text[:200]}")
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--backlog", type=int, default=500)
    p.add_argument("--gap", type=float, default=0.01)
    args = p.parse_args()
    port = free_port()
    server = start_torbit(
        env={
            "TORBIT_HTTP__ENABLED": "true",
            "TORBIT_HTTP__HOST": HOST,
            "TORBIT_HTTP__PORT": str(port),
            "TORBIT_LIMITS__LOGIN_FREE_ATTEMPTS": "0",
        }
    )
    try:
        wait_http(server, port)
        times = asyncio.run(measure(port, args.rounds, args.backlog, args.gap))
    finally:
        server.stop()
        server.cleanup()
    out = {
        k: {
            "median_ms": round(1000 * statistics.median(v), 3),
            "p90_ms": round(1000 * sorted(v)[int(0.9 * len(v))], 3),
            "mean_ms": round(1000 * statistics.fmean(v), 3),
        }
        for k, v in times.items()
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
