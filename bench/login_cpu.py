"""Where a telnet login's CPU goes, per thread of the server: the event loop (the main thread)
and the others (argon2's pool, aiosqlite's thread), read from /proc/PID/task/*/stat before
and after N registrations, 50 at a time, after a warm-up batch; and the load generator's own
(this process), which shares the machine's cores with the server. CPU time, not wall time, so a
busy shared machine shifts it far less than it shifts logins/s.

    python bench/login_cpu.py --logins 1000 [--argon2 default] [--torbit-cmd "..."]
                              [--profile FILE]   (py-spy over the measured logins)
                              [--returning]      (users who registered before log in again)

Prints one JSON line: logins/s, and ms of CPU per login for the loop and the other threads,
the other threads also by name (py-spy names them: argon2's pool, aiosqlite's, the log
writer), and `hash_ms`: one hash's CPU at the same cost on one thread of this process before
the run, so `non_hash_ms_per_login` = the server's CPU per login less one hash. Beside them,
what says whether the hash pool was the limit: the machine's busy cores over the window (2 on
2 cores: nothing idle, so only less CPU a login buys rate), the pool's threads' CPU as a share
of their wall time, and argon2 alone (run.py's, before and after) with logins ÷ it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import subprocess
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any, cast

from procstat import machine_cpu_seconds, raise_open_files_limit, settle
from profiles import Recorder, py_spy
from run import argon2_alone
from servers import ARGON2_CHEAP, start_torbit, torbit_hasher
from users import DEFAULT_LOGINS, TelnetUser, User, login_many

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int, kernel: dict[int, float] | None = None) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of the process, by thread id; the system
    (kernel) part also into `kernel` if given."""
    out: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread ended in between
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / _CLK_TCK
        if kernel is not None:
            kernel[int(tid)] = int(fields[12]) / _CLK_TCK
    return out


def thread_names(pid: int) -> dict[int, str]:
    """Thread id → Python thread name, pool suffixes dropped (argon2_0, argon2_1 → argon2), as
    `py-spy dump` reports them; {} without py-spy."""
    try:
        dump = subprocess.run(
            [py_spy(), "dump", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return {}
    return {
        int(tid): re.sub(r"_\d+$", "", name)
        for tid, name in re.findall(r'^Thread (\d+) \([^)]*\): "([^"]*)"', dump, re.M)
    }


def hash_cpu_ms(argon2: tuple[int, int, int] | None, seconds: float = 1.0) -> float:
    """One hash's CPU (ms) at that cost, hashed on a thread of its own with nothing beside it
    (this process's CPU: at the default cost argon2 hashes its lanes on threads of its own)."""
    hasher = torbit_hasher(argon2)
    out: list[float] = []

    def work() -> None:
        hasher.hash("bench-password")  # warm: the arena keeps its memory
        n, cpu0, end = 0, time.process_time(), time.monotonic() + seconds
        while time.monotonic() < end or n < 3:
            hasher.hash("bench-password")
            n += 1
        out.append(1000 * (time.process_time() - cpu0) / n)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return out[0]


async def measure(
    port: int, pid: int, logins: int, profile: Recorder | None = None, *, returning: bool = False
) -> dict[str, Any]:
    """`returning`: the measured users registered (and joined the room) in a run before, left,
    and now log in again: a login as most are, with no account or membership to create."""
    clients: list[User] = []
    try:
        warm = [partial(TelnetUser, f"w{i:05d}", "lobby") for i in range(50)]
        await login_many(port, warm, clients, DEFAULT_LOGINS)
        if returning:
            first: list[User] = []
            try:
                made = [partial(TelnetUser, f"i{i:05d}", "lobby") for i in range(logins)]
                await login_many(port, made, first, DEFAULT_LOGINS)
            finally:
                for c in first:
                    c.close()
        await settle(pid)
        kernel0: dict[int, float] = {}
        before = thread_cpu(pid, kernel0)
        mine = time.process_time()
        busy0 = machine_cpu_seconds()[0]
        t0 = time.monotonic()
        makers = [partial(TelnetUser, f"i{i:05d}", "lobby") for i in range(logins)]
        if profile is not None:
            profile.window(True)
        await login_many(port, makers, clients, DEFAULT_LOGINS)
        wall = time.monotonic() - t0
        busy = machine_cpu_seconds()[0] - busy0
        mine = time.process_time() - mine
        if profile is not None:
            profile.stop()
        await settle(pid)
        kernel1: dict[int, float] = {}
        after = thread_cpu(pid, kernel1)
        names = thread_names(pid)
    finally:
        for c in clients:
            c.close()
    used = {t: after[t] - before.get(t, 0.0) for t in after}
    loop = used.pop(pid, 0.0)
    others = sum(used.values())
    by_name: dict[str, float] = {}
    threads: dict[str, int] = {}
    for tid, cpu in used.items():
        name = names.get(tid, "?")
        by_name[name] = by_name.get(name, 0.0) + cpu
        threads[name] = threads.get(name, 0) + 1
    every = loop + others + mine
    return {
        "logins": logins,
        "returning": returning,
        "logins_per_s": round(logins / wall, 1),
        "loop_ms_per_login": round(1000 * loop / logins, 2),
        "loop_kernel_ms_per_login": round(
            1000 * (kernel1.get(pid, 0.0) - kernel0.get(pid, 0.0)) / logins, 2
        ),
        "other_threads_ms_per_login": round(1000 * others / logins, 2),
        "other_threads_by_name": {
            k: round(1000 * v / logins, 3)
            for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])
        },
        "generator_ms_per_login": round(1000 * mine / logins, 2),
        # 2 on 2 cores: nothing left idle in the window (anyone's CPU, not only ours)
        "machine_busy_cores": round(busy / wall, 2),
        # the hash pool's threads on CPU, as a share of their wall time together
        "argon2_busy": round(
            by_name.get("argon2", 0.0) / (wall * max(1, threads.get("argon2", 0))), 3
        ),
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
    parser.add_argument(
        "--returning",
        action="store_true",
        help="measure users logging in again (registered in a pass before), not registering",
    )
    args = parser.parse_args()
    argon2 = (
        None
        if args.argon2 == "default"
        else cast(tuple[int, int, int], tuple(map(int, args.argon2.split(","))))
    )
    raise_open_files_limit()
    hash_ms = hash_cpu_ms(argon2)
    alone_before = argon2_alone(argon2)["hashes_per_s"]
    server = start_torbit(shlex.split(args.torbit_cmd) or None, login_timeout=600, argon2=argon2)
    try:
        profile = Recorder(server.pid, args.profile) if args.profile else None
        result = asyncio.run(
            measure(server.port, server.pid, args.logins, profile, returning=args.returning)
        )
    finally:
        server.stop()
        server.cleanup()
    alone = (alone_before + argon2_alone(argon2)["hashes_per_s"]) / 2
    server_ms = result["loop_ms_per_login"] + result["other_threads_ms_per_login"]
    print(
        json.dumps(
            {
                "argon2": args.argon2,
                "hash_ms": round(hash_ms, 2),
                "non_hash_ms_per_login": round(server_ms - hash_ms, 2),
                **result,
                "argon2_alone_per_s": round(alone, 1),
                "logins_of_argon2_alone": round(result["logins_per_s"] / alone, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
