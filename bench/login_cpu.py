"""Where a telnet login's CPU goes, per thread of the server: the event loop (the main thread)
and the others (argon2's pool, aiosqlite's thread), read from /proc/PID/task/*/stat before
and after N registrations, 50 at a time, after a warm-up batch; and the load generator's own
(this process), which shares the machine's cores with the server. CPU time, not wall time, so a
busy shared machine shifts it far less than it shifts logins/s.

    python bench/login_cpu.py --logins 1000 [--argon2 default] [--torbit-cmd "..."]
                              [--profile FILE]   (py-spy over the measured logins)

Prints one JSON line: logins/s, and ms of CPU per login for the loop and the other threads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import time
from functools import partial
from pathlib import Path

from procstat import raise_open_files_limit, settle
from profiles import Recorder
from servers import ARGON2_CHEAP, start_torbit
from users import DEFAULT_LOGINS, TelnetUser, User, login_many

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of the process, by thread id."""
    out: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread ended in between
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return out


async def measure(
    port: int, pid: int, logins: int, profile: Recorder | None = None
) -> dict[str, float]:
    clients: list[User] = []
    try:
        warm = [partial(TelnetUser, f"w{i:05d}", "lobby") for i in range(50)]
        await login_many(port, warm, clients, DEFAULT_LOGINS)
        await settle(pid)
        before = thread_cpu(pid)
        mine = time.process_time()
        t0 = time.monotonic()
        makers = [partial(TelnetUser, f"i{i:05d}", "lobby") for i in range(logins)]
        if profile is not None:
            profile.window(True)
        await login_many(port, makers, clients, DEFAULT_LOGINS)
        wall = time.monotonic() - t0
        mine = time.process_time() - mine
        if profile is not None:
            profile.stop()
        await settle(pid)
        after = thread_cpu(pid)
    finally:
        for c in clients:
            c.close()
    used = {t: after[t] - before.get(t, 0.0) for t in after}
    loop = used.pop(pid, 0.0)
    others = sum(used.values())
    every = loop + others + mine
    return {
        "logins": logins,
        "logins_per_s": round(logins / wall, 1),
        "loop_ms_per_login": round(1000 * loop / logins, 2),
        "other_threads_ms_per_login": round(1000 * others / logins, 2),
        "generator_ms_per_login": round(1000 * mine / logins, 2),
        # what the machine's cores allow if the server and the generator had them to
        # themselves and did per login what they did here
        "cores_allow_per_s": round((os.cpu_count() or 1) * logins / every, 1),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=1000)
    parser.add_argument(
        "--argon2",
        default=",".join(map(str, ARGON2_CHEAP)),
        help="TIME,MEMORY_KIB,LANES or 'default'",
    )
    parser.add_argument("--torbit-cmd", default="", help="instead of `.venv/bin/torbit serve`")
    parser.add_argument("--profile", type=Path, help="py-spy's raw output (perturbs the run)")
    args = parser.parse_args()
    argon2 = None if args.argon2 == "default" else tuple(map(int, args.argon2.split(",")))
    raise_open_files_limit()
    server = start_torbit(shlex.split(args.torbit_cmd) or None, login_timeout=600, argon2=argon2)  # type: ignore[arg-type]
    try:
        profile = Recorder(server.pid, args.profile) if args.profile else None
        result = asyncio.run(measure(server.port, server.pid, args.logins, profile))
    finally:
        server.stop()
        server.cleanup()
    print(json.dumps({"argon2": args.argon2, **result}))


if __name__ == "__main__":
    main()
