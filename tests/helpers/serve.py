"""`torbit serve` as a subprocess of the test's, started and waited for until it is ready: the
scale-out suite's nodes (tests/scale/processes.py) and the drills' servers
(tests/drills/harness.py) start theirs so."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx


def output_tail(workdir: Path, tail: int = 4000) -> str:
    """The last `tail` characters the server in `workdir` printed (its output.log)."""
    path = workdir / "output.log"
    return path.read_text(errors="replace")[-tail:] if path.exists() else ""


def serve(
    workdir: Path, env: dict[str, str], http_port: int, ready_within: float
) -> subprocess.Popen[bytes]:
    """`torbit serve` in `workdir` with exactly `env` (its output added to output.log
    there), once its /readyz on `http_port` answers 200 (store and message log reachable).
    If it exits first, or is not ready within `ready_within` s (then killed): an
    AssertionError with the end of its output."""
    workdir.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).parent / "torbit"
    cmd = [str(exe), "serve"] if exe.exists() else [sys.executable, "-m", "torbit", "serve"]
    with (workdir / "output.log").open("ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    deadline = time.monotonic() + ready_within
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"torbit exited with {proc.returncode}:\n{output_tail(workdir)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{http_port}/readyz", timeout=2).is_success:
                return proc
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(
                f"torbit not ready within {ready_within}s:\n{output_tail(workdir)}"
            )
        time.sleep(0.05)
