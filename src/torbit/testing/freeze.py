"""Freeze a process for an outage test, and know that it is frozen.

`kill(pid, SIGSTOP)` returns once the signal is queued; each thread stops when it next passes
through the kernel. On a loaded two-core VM a thread of a JVM can go on for a while, long
enough to answer one more request after the test believed its node frozen (seen once in CI:
a Cassandra read that should have timed out was answered). So `freeze` waits until every
thread of the process is in the stopped state."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

FROZEN_WITHIN_S = 10.0


class NotFrozen(RuntimeError):
    """A thread still ran after the wait."""


def _running_threads(pid: int) -> list[str]:
    """The threads of `pid` not stopped ('T') or traced ('t'); gone threads are not running."""
    running: list[str] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:  # the process is gone
        return running
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state = stat[stat.rindex(")") + 2]  # the name in parentheses may hold spaces
        if state not in "TtXZ":
            running.append(task.name)
    return running


def freeze(pid: int, within: float = FROZEN_WITHIN_S) -> None:
    """SIGSTOP `pid` and return once none of its threads runs."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + within
    while running := _running_threads(pid):
        if time.monotonic() > deadline:
            raise NotFrozen(f"pid {pid}: threads {running[:5]} still run after SIGSTOP")
        time.sleep(0.001)


def thaw(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
