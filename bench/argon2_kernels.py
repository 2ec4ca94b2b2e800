"""argon2id hashes/s through argon2-cffi and through libsodium (PyNaCl), at the bench's cheap
cost and at torbit's default cost, one thread per core hashing without pause, the two
libraries alternating `--rounds` times: why core/argon2id.py hashes one lane with
libsodium. Also one hash's latency and CPU alone (argon2-cffi computes several lanes on
threads of their own, so its CPU per hash is above its latency).

    python bench/argon2_kernels.py [--seconds 3] [--rounds 3]

Prints a Markdown table, then one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from nacl import pwhash

from servers import ARGON2_CHEAP

DEFAULT = (3, 65536)  # torbit's argon2_time_cost, argon2_memory_kib

Hash = Callable[[str], object]


def kinds(t: int, m: int) -> dict[str, Hash]:
    sodium = pwhash.argon2id.str
    return {
        "argon2-cffi, 4 lanes": PasswordHasher(time_cost=t, memory_cost=m, parallelism=4).hash,
        "argon2-cffi, 1 lane": PasswordHasher(time_cost=t, memory_cost=m, parallelism=1).hash,
        "libsodium, 1 lane": lambda pw: sodium(pw.encode(), opslimit=t, memlimit=m * 1024),
    }


def rate(fn: Hash, seconds: float) -> float:
    """Hashes/s with one thread per core hashing until the time is up."""
    threads = os.cpu_count() or 1
    end = time.monotonic() + seconds

    def until_end(_: int) -> int:
        n = 0
        while time.monotonic() < end:
            fn("bench-password")
            n += 1
        return n

    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        done = sum(pool.map(until_end, range(threads)))
    return done / (time.monotonic() - start)


def one(fn: Hash, n: int = 5) -> tuple[float, float]:
    """Median latency and process CPU of one hash alone, ms."""
    walls, cpus = [], []
    for _ in range(n):
        c, w = time.process_time(), time.perf_counter()
        fn("bench-password")
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return 1000 * statistics.median(walls), 1000 * statistics.median(cpus)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0, help="per rate measured")
    p.add_argument("--rounds", type=int, default=3, help="the libraries alternate this often")
    args = p.parse_args()
    out: dict[str, dict[str, object]] = {}
    print("| cost | library | hashes/s, cores busy (runs) | one hash: ms, CPU ms |")
    print("|---|---|---:|---:|")
    for label, (t, m) in (("cheap", ARGON2_CHEAP[:2]), ("default", DEFAULT)):
        fns = kinds(t, m)
        for fn in fns.values():
            fn("warm")  # the allocator holds the memory from now on
        runs: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(args.rounds):
            for k, fn in fns.items():
                runs[k].append(round(rate(fn, args.seconds), 1))
        for k, fn in fns.items():
            wall, cpu = one(fn)
            med = statistics.median(runs[k])
            out[f"{label} t={t} m={m}: {k}"] = {
                "per_s": med,
                "runs": runs[k],
                "one_ms": round(wall, 2),
                "cpu_ms": round(cpu, 2),
            }
            print(
                f"| {label} (t={t}, {m} KiB) | {k} | {med:,.1f} ({', '.join(map(str, runs[k]))}) "
                f"| {wall:.1f}, {cpu:.1f} |"
            )
    print(json.dumps({"cpus": os.cpu_count(), "results": out}))


if __name__ == "__main__":
    main()
