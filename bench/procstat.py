"""What the benchmark reads about processes: CPU time and resident memory from /proc, free
ports, and the open-files limit. Kept apart so the reference server can use it without pulling
in the load generator."""

from __future__ import annotations

import asyncio
import os
import resource
import socket

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_open_files_limit() -> None:
    """10,000 connections need more descriptors than the usual soft limit of 1,024; every
    process the benchmark starts calls this (children inherit it too)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds used so far by one process (not its children)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # the command name is in parentheses and may contain spaces: count fields after the last ')'
    fields = stat[stat.rfind(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return utime / _CLK_TCK, stime / _CLK_TCK


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by one process (not its children)."""
    return sum(cpu_split(pid))


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat. On a shared
    machine, busy time not spent by the server or the generator is someone else's load."""
    with open("/proc/stat", "rb") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    total = sum(ticks[:8])  # guest time is already counted in user
    return (total - idle) / _CLK_TCK, total / _CLK_TCK


def io_counts(pid: int) -> dict[str, int]:
    """A process's I/O calls and bytes so far, /proc/PID/io: syscr/syscw count read(v) and
    write(v) calls (sockets, pipes and files alike; send/recv and their kin are not counted),
    rchar/wchar their bytes. libuv (torbit, the reference, the generator) reads with read and
    writes with write/writev; InspIRCd writes with writev (stop 45's perf counts)."""
    with open(f"/proc/{pid}/io", "rb") as f:
        return {k.decode(): int(v) for k, v in (line.split(b":") for line in f)}


def rss_bytes(pid: int) -> int:
    """Resident set size of one process, from VmRSS in /proc/PID/status."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot take 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def settle(
    pid: int, *, busy: float = 0.05, window: float = 0.5, max_wait: float = 60.0
) -> float:
    """Wait until the process uses less than `busy` of a core over `window` seconds, so a
    measurement does not start while it is still working off setup (join notices, logins).
    Returns the seconds waited; gives up quietly after `max_wait`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        before = cpu_seconds(pid)
        await asyncio.sleep(window)
        if cpu_seconds(pid) - before < busy * window or loop.time() - start > max_wait:
            return loop.time() - start


async def wait_for_quiet(
    *, busy_cores: float = 0.5, window: float = 1.0, max_wait: float = 120.0
) -> tuple[float, float]:
    """On a shared machine, wait until everyone together uses less than `busy_cores` over
    `window` seconds, so a run does not start in the middle of someone else's test suite.
    Returns (seconds waited, cores busy in the last window); gives up after `max_wait`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        before = machine_cpu_seconds()[0]
        await asyncio.sleep(window)
        busy = (machine_cpu_seconds()[0] - before) / window
        if busy < busy_cores or loop.time() - start > max_wait:
            return loop.time() - start, busy
