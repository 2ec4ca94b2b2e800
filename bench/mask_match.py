"""What a room's ban masks cost a join or an HTTP request (core/banmasks.py,
`CompiledMasks.matching`) at the limits: 100 network masks (`*!*@2001:db8:N::/64`) the
visitor is in none of, and 100 plain masks the same way, and 100 ban exceptions behind one
mask that matches (each network exception then asked too). Pure CPU, no store.

    .venv/bin/python bench/mask_match.py [--calls 2000] [--repeat 7]

Prints a markdown table: median and worst of the repeats, in µs per call."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from torbit.core.banmasks import MAX_BAN_MASKS, CompiledMasks, Visitor, parse_mask


def masks(template: str) -> tuple[str, ...]:
    made = (parse_mask(template.format(i=i)) for i in range(MAX_BAN_MASKS))
    return tuple(m for m in made if m is not None)


def cases() -> dict[str, Callable[[], object]]:
    v6 = Visitor("mallory", "~m", "2001:db9::1234")
    v4 = Visitor("mallory", "~m", "192.0.2.77")
    networks = CompiledMasks(masks("*!*@2001:db8:{i:x}::/64"))
    plain = CompiledMasks(masks("nobody{i}!*@*"))
    excepted = CompiledMasks(("mallory!*@*",), exceptions=masks("*!*@10.{i}.0.0/16"))
    return {
        "100 network masks, IPv6 visitor in none": lambda: networks.matching(v6),
        "100 network masks, IPv4 visitor": lambda: networks.matching(v4),
        "100 plain masks, visitor in none": lambda: plain.matching(v6),
        "1 matching mask, 100 network exceptions": lambda: excepted.matching(v4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("| case | median µs/call | worst µs/call |\n|---|---|---|")
    for name, call in cases().items():
        runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            for _ in range(args.calls):
                call()
            runs.append((time.perf_counter() - start) / args.calls * 1e6)
        print(f"| {name} | {statistics.median(runs):.1f} | {max(runs):.1f} |")


if __name__ == "__main__":
    main()
