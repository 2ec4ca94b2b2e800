"""torbit's hasher (core/argon2id.py) hashing without pause on one thread, on two threads of
one process (run.py's "argon2 alone", the shape of the server's pool), and on two processes
of one thread each, alternating `--rounds` times: hashes/s, CPU a hash (user and system) and
minor faults a hash. libsodium maps each hash's memory afresh and unmaps it after; two
threads of one process share that address space (its lock, and every unmap's TLB flush
reaches the other thread's core), two processes do not.

    python bench/argon2_processes.py [default] [--seconds 3] [--rounds 2]

Prints one JSON line a measurement."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.queues
import os
import resource
import threading
import time

from servers import ARGON2_CHEAP, torbit_hasher

Usage = tuple[float, float, int]


def usage() -> Usage:
    """User and system CPU seconds and minor faults of this process and its waited-for
    children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (
        me.ru_utime + kids.ru_utime,
        me.ru_stime + kids.ru_stime,
        me.ru_minflt + kids.ru_minflt,
    )


def hash_until(params: tuple[int, int, int] | None, end: float) -> int:
    hasher = torbit_hasher(params)
    n = 0
    while time.monotonic() < end:
        hasher.hash("bench-password")
        n += 1
    return n


def in_process(
    params: tuple[int, int, int] | None, end: float, out: multiprocessing.queues.Queue[int]
) -> None:
    out.put(hash_until(params, end))


def measure(params: tuple[int, int, int] | None, shape: str, seconds: float) -> dict[str, object]:
    u0, s0, f0 = usage()
    t0 = time.monotonic()
    end = t0 + seconds
    if shape == "1 thread":
        n = hash_until(params, end)
    elif shape == "2 threads":
        counts: list[int] = []
        threads = [
            threading.Thread(target=lambda: counts.append(hash_until(params, end)))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        n = sum(counts)
    else:
        queue: multiprocessing.queues.Queue[int] = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(target=in_process, args=(params, end, queue)) for _ in range(2)
        ]
        for p in procs:
            p.start()
        n = queue.get() + queue.get()
        for p in procs:
            p.join()
    wall = time.monotonic() - t0
    u1, s1, f1 = usage()
    return {
        "shape": shape,
        "hashes_per_s": round(n / wall, 1),
        "user_ms": round(1000 * (u1 - u0) / n, 2),
        "system_ms": round(1000 * (s1 - s0) / n, 2),
        "faults": round((f1 - f0) / n),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cost", nargs="?", default="cheap", choices=("cheap", "default"))
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    params = ARGON2_CHEAP if args.cost == "cheap" else None
    multiprocessing.set_start_method("fork")
    torbit_hasher(params).hash("warm")
    for _ in range(args.rounds):
        for shape in ("1 thread", "2 threads", "2 processes"):
            print(json.dumps(measure(params, shape, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
