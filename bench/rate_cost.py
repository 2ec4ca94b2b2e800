"""What a rate check costs per call (gcra, bench/JOURNAL.md): a keyed `RateLimiter.take`
within its burst, a connection's read of 64 bytes within its input byte budget (the whole
`LineSession.data_received`: counted, the budget asked, the codec a no-op) and IRC
pacing's `began`/`held_back`/`ended` (as bench/irc_pacing_cost.py), each timeit best of 5 x 200,000, `--sittings` times. Run against
another tree's src with PYTHONPATH (main's, frozen with `git archive`) for the reference in
the same sitting. `--library`: the `limits` package's in-memory moving window and sliding
window counter `hit` (not a dependency: installed beside, found through `--library-path`).

    flock /tmp/bench.lock .venv/bin/python bench/rate_cost.py
    PYTHONPATH=/tmp/main/src flock /tmp/bench.lock .venv/bin/python bench/rate_cost.py
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import timeit
from collections.abc import Callable
from functools import partial
from typing import Any

from irc_pacing_cost import Session
from torbit.core.limits import ByteBudget, RateLimiter
from torbit.frontends.irc import pacing
from torbit.frontends.line_session import LineSession

NUMBER = 200_000
READ = b"x" * 64


class Door:
    input_bytes = 0


class Connection(LineSession[bytes]):
    """A line session's read as the socket hands it over: counted, the budget asked, the
    door's codec (`_input`) a no-op."""

    __slots__ = ()

    def __init__(self) -> None:
        self.server = Door()  # type: ignore[assignment]
        self.closed = False
        self._writer = None
        self._init_input(ByteBudget(1e15, 1 << 60))

    def _input(self, data: bytes) -> None:
        pass


def ours() -> dict[str, Callable[[], object]]:
    keyed = RateLimiter(1e12, 1 << 40)  # 1,000 users, never refused
    keys = [f"user{i}" for i in range(1000)]
    for key in keys:
        keyed.take(key)
    connection = Connection()
    s = Session()

    def take() -> None:
        keyed.take("user500")

    def received() -> None:
        connection.data_received(READ)

    def command() -> None:
        pacing.began(s, 1)  # type: ignore[arg-type]
        pacing.held_back(s)  # type: ignore[arg-type]
        pacing.ended(s)  # type: ignore[arg-type]
        s._paid_until = 0.0  # stay within the burst

    return {
        "RateLimiter.take": take,
        "a read (LineSession.data_received)": received,
        "IRC command pacing": command,
    }


def library(path: str) -> dict[str, Callable[[], object]]:
    sys.path.append(path)
    limits: Any = importlib.import_module("limits")
    out: dict[str, Callable[[], object]] = {}
    # the moving window keeps a timestamp per hit: 1,000 a second (most of the 200,000 calls
    # a refusal, its cheapest path); the counter, never refused
    for name, rate in (("MovingWindow", "1000"), ("SlidingWindowCounter", "1000000000")):
        item = limits.parse(f"{rate}/second")
        strategy = getattr(limits.strategies, f"{name}RateLimiter")(limits.storage.MemoryStorage())
        for i in range(1000):
            strategy.hit(item, f"user{i}")
        out[f"limits {name} {rate}/s hit"] = partial(strategy.hit, item, "user500")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sittings", type=int, default=3)
    parser.add_argument("--library", action="store_true")
    parser.add_argument("--library-path", default="")
    args = parser.parse_args()
    import torbit

    print(f"tree {os.path.dirname(torbit.__file__)}, load {os.getloadavg()[0]:.2f}")
    cases = ours()
    if args.library:
        cases |= library(args.library_path)
    for name, call in cases.items():
        runs = [min(timeit.repeat(call, number=NUMBER, repeat=5)) / NUMBER * 1e9]
        runs += [
            min(timeit.repeat(call, number=NUMBER, repeat=5)) / NUMBER * 1e9
            for _ in range(args.sittings - 1)
        ]
        shown = ", ".join(f"{r:.1f}" for r in runs)
        print(
            f"{name}: {shown} ns; median {sorted(runs)[len(runs) // 2]:.1f}, worst {max(runs):.1f}"
        )


if __name__ == "__main__":
    main()
