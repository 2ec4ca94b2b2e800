"""A server's event-loop turns, from a `perf` recording of its main thread: what each turn cost
in CPU and what its poll read. The stall probes inside the server (a thread pinging the loop)
wait for the GIL too, which a busy uvloop thread keeps retaking (bench/JOURNAL.md, "Stop 59");
the kernel's own record of the thread's syscalls has no such bias.

Record (as root; the server's main thread's id is its pid), while the storm happens:

    perf record -e cpu-clock/freq=4000/ -e syscalls:sys_enter_epoll_pwait \\
        -e syscalls:sys_exit_epoll_pwait -e syscalls:sys_enter_epoll_ctl \\
        -e syscalls:sys_enter_close -e syscalls:sys_exit_read \\
        -k CLOCK_MONOTONIC --tid PID -o storm.data

then `python bench/loop_turns.py storm.data [--top 8] [--from T --to T]`.

A turn starts at an `epoll_pwait` that is not libuv re-polling: libuv's poll calls
`epoll_pwait` again at once, with a timeout of 0 and without returning to the loop (up to 48
times), while the previous call filled its 1,024-event array. Per turn: wall time from its
poll's entry to the next turn's (idle waiting included), CPU (cpu-clock samples, kernel and
user), the polls, the events they returned, the reads that returned 0 (EOFs), `epoll_ctl` and
`close` calls."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

LIBUV_EVENTS = 1024  # libuv's epoll_pwait array (uv__io_poll): a full one is polled again
_LINE = re.compile(r"\s*(\d+\.\d+):\s+(\S+):\s*(.*)")
_TIMEOUT = re.compile(r"timeout: (0x[0-9a-f]+|-?\d+)")
_RET = re.compile(r"^(0x[0-9a-f]+|-?\d+)")


@dataclass
class Turn:
    start: float  # the entry of its first epoll_pwait (CLOCK_MONOTONIC, seconds)
    end: float = 0.0  # the next turn's start
    polls: int = 0
    events: int = 0
    eofs: int = 0
    epoll_ctl: int = 0
    closes: int = 0
    kernel: int = 0  # cpu-clock samples in the kernel
    user: int = 0
    leaves: Counter[str] = field(default_factory=Counter)

    def cpu(self, period: float) -> float:
        return (self.kernel + self.user) * period


def _number(text: str) -> int:
    m = _RET.match(text.strip())
    if m is None:
        return 0
    value = int(m.group(1), 0)
    return value - (1 << 64) if value >= 1 << 63 else value


def turns(lines: Iterable[str]) -> list[Turn]:
    """The turns in `perf script -F time,event,trace,ip,sym` output (one event a line)."""
    found: list[Turn] = []
    turn: Turn | None = None
    last_returned = 0
    at = 0.0
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            continue
        at, event, rest = float(m.group(1)), m.group(2), m.group(3)
        if event.endswith("sys_enter_epoll_pwait"):
            t = _TIMEOUT.search(rest)
            timeout = int(t.group(1), 0) if t else -1
            if turn is None or not (last_returned >= LIBUV_EVENTS and timeout == 0):
                if turn is not None:
                    turn.end = at
                    found.append(turn)
                turn = Turn(at)
            turn.polls += 1
        elif turn is None:
            continue
        elif event.endswith("sys_exit_epoll_pwait"):
            last_returned = max(_number(rest), 0)
            turn.events += last_returned
        elif event.endswith("sys_exit_read"):
            turn.eofs += _number(rest) == 0
        elif event.endswith("sys_enter_epoll_ctl"):
            turn.epoll_ctl += 1
        elif event.endswith("sys_enter_close"):
            turn.closes += 1
        elif event.startswith("cpu-clock"):
            ip, _, sym = rest.partition(" ")
            if ip.startswith("ffffffff"):
                turn.kernel += 1
            else:
                turn.user += 1
            turn.leaves[sym.strip() or "?"] += 1
    if turn is not None:  # the last, cut by the recording's end
        turn.end = at
        found.append(turn)
    return found


def describe(t: Turn, period: float) -> str:
    return (
        f"{t.start:.4f}: wall {(t.end - t.start) * 1e3:.1f} ms, CPU {t.cpu(period) * 1e3:.1f} ms "
        f"(kernel {t.kernel * period * 1e3:.1f}), polls {t.polls}, events {t.events}, "
        f"EOFs {t.eofs}, epoll_ctl {t.epoll_ctl}, close {t.closes}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="perf.data recorded as above")
    p.add_argument("--top", type=int, default=8, help="turns shown, by CPU")
    p.add_argument("--hz", type=float, default=4000.0, help="the cpu-clock frequency recorded")
    p.add_argument("--from", dest="start", type=float, default=0.0, help="every turn from then")
    p.add_argument("--to", dest="stop", type=float, default=0.0)
    args = p.parse_args(argv)
    out = subprocess.run(
        ["perf", "script", "-i", args.data, "-F", "time,event,trace,ip,sym"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = turns(out.splitlines())
    period = 1 / args.hz
    print(f"{len(found)} turns")
    for t in sorted(found, key=lambda t: -(t.kernel + t.user))[: args.top]:
        print(describe(t, period))
        print("    ", ", ".join(f"{sym} {n}" for sym, n in t.leaves.most_common(10)))
    if args.stop:
        for t in found:
            if args.start <= t.start <= args.stop:
                print(describe(t, period))
    return 0


if __name__ == "__main__":
    sys.exit(main())
