"""Does argon2 run beside the event loop? Hashes/s on 1 and 2 threads, alone and beside a
pure-Python spinner on the main thread (an event loop busy with Python), and the spinner's
speed beside them. argon2-cffi releases the GIL while it hashes; each hash takes it back to
return, and waits for it while the other thread runs Python (up to the switch interval).

    python bench/argon2_gil.py [default] [--switch SECONDS]

Prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

from argon2 import PasswordHasher

from servers import ARGON2_CHEAP

SECONDS = 2.0


def hashing(hasher: PasswordHasher, threads: int, stop: threading.Event) -> list[int]:
    """Start `threads` threads hashing until `stop`; their counts, filled in as they go."""
    counts = [0] * threads

    def work(i: int) -> None:
        while not stop.is_set():
            hasher.hash("bench-password")
            counts[i] += 1

    for i in range(threads):
        threading.Thread(target=work, args=(i,), daemon=True).start()
    return counts


def spin(seconds: float) -> int:
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(1000):
            n += 1
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cost", nargs="?", default="cheap", choices=["cheap", "default"])
    p.add_argument("--switch", type=float, help="sys.setswitchinterval (default 0.005)")
    args = p.parse_args()
    if args.switch:
        sys.setswitchinterval(args.switch)
    t, m, lanes = ARGON2_CHEAP
    hasher = (
        PasswordHasher(time_cost=t, memory_cost=m, parallelism=lanes)
        if args.cost == "cheap"
        else PasswordHasher()
    )
    out: dict[str, float] = {"switch_interval": sys.getswitchinterval()}
    alone = spin(SECONDS) / SECONDS
    for threads in (1, 2):
        stop = threading.Event()
        counts = hashing(hasher, threads, stop)
        time.sleep(SECONDS)
        stop.set()
        out[f"hashes_per_s_{threads}t_alone"] = round(sum(counts) / SECONDS, 1)
        time.sleep(0.2)  # the last hashes end
        stop = threading.Event()
        counts = hashing(hasher, threads, stop)
        spun = spin(SECONDS)
        stop.set()
        out[f"hashes_per_s_{threads}t_beside_python"] = round(sum(counts) / SECONDS, 1)
        out[f"python_speed_beside_{threads}t"] = round(spun / SECONDS / alone, 3)
        time.sleep(0.2)
    out["load_avg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
