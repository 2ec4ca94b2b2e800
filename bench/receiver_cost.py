"""The load generator's CPU a read in a steady fan-out: chunks of room lines as torbit's telnet
and IRC doors send them, through a live receiver's `data_received` into the fan-out's Tally,
with no sockets (what uvloop and the kernel add is the same for any generator).

    python bench/receiver_cost.py --bench bench --chunks 200000 --lines 1

`--bench` is the bench directory whose users.py and loadgen.py are measured (another tree's,
for before and after). Prints ns a chunk per dialect, as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, cast

TELNET = b"[23:50:01] <s000> ^%d %d\r\n"
IRC = b":s000!s000@127.0.0.1 PRIVMSG #bench :^%d %d\r\n"


class Wire(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass


async def cost(bench: str, chunks: int, lines: int) -> dict[str, float]:
    sys.path.insert(0, bench)
    import loadgen
    import users

    out: dict[str, float] = {}
    for name, cls, form in (("telnet", users.TelnetUser, TELNET), ("irc", users.IrcUser, IRC)):
        tally = loadgen.Tally()
        sink = cast(users.Sink, getattr(tally, "take", tally))  # before stop 62: the Tally
        stamp = time.monotonic_ns()
        if hasattr(tally, "sent_ns"):
            tally.sent_ns.extend([stamp] * (chunks * lines + 1))
        tally.lo, tally.hi = 0, 1 << 62
        user = cls("r00000", "bench", sink)
        user.transport = Wire()
        user.live = True
        data = [
            b"".join(form % (c * lines + k, stamp) for k in range(lines)) for c in range(chunks)
        ]
        receive = user.data_received
        t = time.process_time_ns()
        for d in data:
            receive(d)
        out[name] = (time.process_time_ns() - t) / chunks
        assert tally.received == chunks * lines, (name, tally.received)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", required=True)
    p.add_argument("--chunks", type=int, default=200_000)
    p.add_argument("--lines", type=int, default=1)
    a = p.parse_args()
    print(
        json.dumps(
            {k: round(v, 1) for k, v in asyncio.run(cost(a.bench, a.chunks, a.lines)).items()}
        )
    )


if __name__ == "__main__":
    main()
