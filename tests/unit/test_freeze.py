"""The outage tests' freeze: once it returns, no thread of the frozen process runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from torbit.testing.freeze import freeze, thaw

# Eight threads that never block: each is always on a CPU or ready to be.
SPINNERS = """
import threading
def spin():
    while True:
        pass
for _ in range(8):
    threading.Thread(target=spin, daemon=True).start()
print("spinning", flush=True)
threading.Event().wait()
"""


def states(pid: int) -> list[str]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        out.append(stat[stat.rindex(")") + 2])
    return out


def test_every_thread_is_stopped_when_freeze_returns_and_runs_again_after_thaw() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SPINNERS], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"spinning\n"
        for _ in range(20):
            freeze(proc.pid)
            assert set(states(proc.pid)) == {"T"}, states(proc.pid)
            thaw(proc.pid)
            while set(states(proc.pid)) == {"T"}:  # they run again (a hang fails the test)
                time.sleep(0.001)
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_freezing_a_process_that_is_gone_says_so() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with pytest.raises(ProcessLookupError):
        freeze(proc.pid)
