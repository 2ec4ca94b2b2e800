"""A reconnect storm at the HTTP port (attack14, bench/JOURNAL.md): what it costs the server
when every request comes on a new connection, with and without `limits.connection_rate`.

One torbit (HTTP door, SQLite, cheap argon2; connections per address and their rate at their
defaults, unless `--rate`); the attacker, in a process of its own, from 127.0.0.2, runs
`--connections` loops that each connect, send `GET --path` with `connection: close`, read
the answer and connect again. Counted: the server's CPU seconds over the attack, connections
made and their answers by status. `--src DIR` runs another tree's torbit, for before and after.

    flock /tmp/bench.lock .venv/bin/python bench/http_reconnect_storm.py --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from collections import Counter
from typing import Any

import servers
from irc_preregistration import ATTACKER, cpu_seconds
from servers import HOST, add_src_option, start_torbit, torbit_from

LIFTED = {"TORBIT_LIMITS__CONNECTIONS_PER_IP", "TORBIT_LIMITS__CONNECTION_RATE"}


async def storm(port: int, path: str, seconds: float, connections: int) -> dict[str, int]:
    statuses: Counter[str] = Counter()
    request = f"GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n".encode()
    end = time.monotonic() + seconds

    async def loop() -> None:
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.open_connection(HOST, port, local_addr=(ATTACKER, 0))
                writer.write(request)
                answer = await reader.read()
                writer.close()
            except OSError:
                statuses["error"] += 1
                continue
            statuses[answer[9:12].decode() or "none"] += 1

    await asyncio.gather(*(loop() for _ in range(connections)))
    return dict(statuses)


def attacker(port: int, path: str, seconds: float, connections: int, out: Any) -> None:
    out.update(asyncio.run(storm(port, path, seconds, connections)))


def main() -> None:
    ap = argparse.ArgumentParser()
    add_src_option(ap)
    ap.add_argument("--rate", default="", help="limits.connection_rate (default: torbit's)")
    ap.add_argument("--path", default="/readyz")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    full = servers.torbit_env
    servers.torbit_env = lambda *a, **k: {
        key: v for key, v in full(*a, **k).items() if key not in LIFTED
    }
    env = {"TORBIT_LIMITS__CONNECTION_RATE": args.rate} if args.rate else {}
    command = torbit_from(args.src, env)
    for i in range(args.repeat):
        load = os.getloadavg()[0]
        server = start_torbit(command, env=env, doors={"http": "HTTP"})
        try:
            with multiprocessing.Manager() as manager:
                out = manager.dict()
                before = cpu_seconds(server.proc.pid)
                proc = multiprocessing.Process(
                    target=attacker,
                    args=(server.ports["http"], args.path, args.seconds, args.connections, out),
                )
                proc.start()
                proc.join(args.seconds + 60)
                cpu = cpu_seconds(server.proc.pid) - before
                statuses = dict(out)
        finally:
            server.stop()
            server.cleanup()
        print(
            f"run {i + 1} load {load:.2f}  cpu {cpu:.2f} s  connections"
            f" {sum(statuses.values())}  statuses {dict(sorted(statuses.items()))}",
            flush=True,
        )


if __name__ == "__main__":
    main()
