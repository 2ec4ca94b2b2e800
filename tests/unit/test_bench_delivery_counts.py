"""What a steady or burst run reports beside the server's CPU a delivery (bench/loadgen.py,
bench/run.py): the generator's CPU a delivery and the server's writes and the generator's
reads, counted by /proc/PID/io over the measured window (bench/JOURNAL.md, "Stop 62: gen62").
A sitting's p99 read the generator's own lag when it neared a whole core (stop 61)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from loadgen import Endpoint, Window, per_delivery
from run import BURST, STEADY, Scenario, summarize, table
from users import TelnetUser

WRITES = 500
# a real process that, once told, writes one line at a time, then waits to be let go
WRITER = (
    "import os, sys\n"
    "sys.stdin.readline()\n"
    f"for _ in range({WRITES}):\n"
    "    os.write(1, b'x\\n')\n"
    "sys.stdin.readline()\n"
)


def test_the_window_counts_a_process_writes_and_its_own_reads() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        w = Window(Endpoint(0, child.pid, TelnetUser))
        w.start()
        child.stdin.write(b"go\n")
        child.stdin.flush()
        got, reads = b"", 0
        while len(got) < 2 * WRITES:
            got += os.read(child.stdout.fileno(), 2 * WRITES)
            reads += 1
        w.stop()
    finally:
        child.stdin.write(b"done\n")
        child.stdin.close()
        child.wait()
        child.stdout.close()
    assert (w.server_writes, w.server_write_bytes) == (WRITES, 2 * WRITES)
    # our own reads of the pipe, and the few (two a file) the window makes of /proc
    assert reads <= w.gen_reads <= reads + 16
    assert w.gen_read_bytes >= 2 * WRITES
    each = per_delivery(w, WRITES)
    assert each["server_writes_per_delivery"] == 1.0
    assert each["server_bytes_per_write"] == 2.0
    assert each["gen_reads_per_delivery"] == round(w.gen_reads / WRITES, 4)
    assert each["gen_cpu_us_per_delivery"] == round(w.gen_cpu / WRITES * 1e6, 4)
    report = w.report()
    assert report["server_writes"] == WRITES and report["gen_reads"] == w.gen_reads
    assert abs(report["gen_user_s"] + report["gen_system_s"] - report["gen_cpu_s"]) < 0.03


def run(p99: float, writes: float, gen_us: float) -> dict[str, Any]:
    return {
        "p99_ms": p99,
        "server_writes_per_delivery": writes,
        "gen_cpu_us_per_delivery": gen_us,
        "gen_reads_per_delivery": 1.0,
    }


async def nothing(*_a: Any) -> dict[str, Any]:
    return {}


def test_a_sitting_shows_writes_and_the_generators_cpu_a_delivery() -> None:
    for rows in (STEADY, BURST):
        keys = {r.key for r in rows}
        assert {"server_writes_per_delivery", "gen_cpu_us_per_delivery"} <= keys
    scn = Scenario("steady-1000", "steady", STEADY, nothing)
    runs = {
        "torbit": [run(20.0, 1.0, 8.0), run(10.0, 0.5, 6.0)],
        "inspircd": [run(10.0, 0.9, 7.0), run(10.0, 0.8, 6.0)],
    }
    text = table(scn, summarize(scn, runs), 2)
    shown = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    # medians, the worst run, and torbit ÷ InspIRCd per repeat: 1/0.9 and 0.5/0.8
    assert shown["server writes/delivery"].startswith(
        "| server writes/delivery | 0.75 (1) | 0.85 (0.9) | 0.87 |"
    )
    assert shown["generator CPU µs/delivery"].startswith(
        "| generator CPU µs/delivery | 7 (8) | 6.5 (7) | 1.07 |"
    )
    assert shown["generator reads/delivery"].startswith("| generator reads/delivery | 1 | 1 |")
