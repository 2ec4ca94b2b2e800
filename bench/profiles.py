"""Sampling profiles of the server under test with py-spy (from PyPI: `pip install py-spy`
into the venv), and the table of its hottest functions.

run.py attaches py-spy to torbit during each scenario's measured part with `--profile DIR`:

    py-spy record --pid PID --format raw --threads --rate 200 --nonblocking --output FILE

`--format raw` writes collapsed stacks (`thread (TID): NAME;outer (file:line);inner (file:line)
COUNT`), one line per distinct stack. Samples of an idle loop (waiting in epoll) are not recorded, so the counts
are where the server's Python threads spent CPU. A profiled run is slower than an unprofiled
one (py-spy reads the process's memory 200 times a second): its numbers are not for the table.

    python bench/profiles.py bench/results/profile-steady-1000.txt --top 15
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
_THREAD = re.compile(r"^thread \(\d+\): (.*?)(?:_\d+)?$")  # pool workers _0, _1… as one


def stamped(name: str) -> Path:
    """bench/results/<now>-<name>, the directory made: where a run writes a profile or its
    results."""
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    return results / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def py_spy() -> str:
    """py-spy next to the running Python (the venv's), else on PATH."""
    exe = Path(sys.executable).parent / "py-spy"
    if exe.exists():
        return str(exe)
    found = shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


class Recorder:
    """One `py-spy record` of one process, started and stopped around a measured window."""

    def __init__(self, pid: int, output: Path, rate: int = 200, *, native: bool = False) -> None:
        """`native`: C frames too (uvloop, libuv, libc: the syscalls), pausing the process
        for each sample where the default reads it without stopping it."""
        self.cmd = [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--threads",
            "--rate",
            str(rate),
            "--native" if native else "--nonblocking",
            "--output",
            str(output),
        ]
        self.output = output
        self.proc: subprocess.Popen[bytes] | None = None
        self._interrupted = False

    def window(self, started: bool) -> None:
        """loadgen.Endpoint.on_window: record while the measured part runs."""
        if started:
            if self.proc is None:
                self.proc = subprocess.Popen(
                    self.cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
        elif self.proc is not None and not self._interrupted:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes the file and exits
            self._interrupted = True

    def stop(self) -> str:
        """Stop recording if the window did not, wait for the file. Returns py-spy's last
        words ("Wrote raw flamegraph data … Samples: N Errors: M")."""
        if self.proc is None:
            return ""
        self.window(False)
        proc, self.proc = self.proc, None
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
        words = err.decode(errors="replace").strip().splitlines()
        return next((w for w in reversed(words) if "Samples" in w), words[-1] if words else "")


def frame_name(frame: str) -> str:
    """`func (path/to/file.py:123)` → `func (file.py)`: one row per function, not per line."""
    frame = _LINE.sub(")", frame)
    head, sep, path = frame.partition(" (")
    return f"{head} ({Path(path.rstrip(')')).name})" if sep else frame


Profile = tuple[int, Counter[str], Counter[str], Counter[str]]


def summarize(path: Path, thread: str = "") -> Profile:
    """(samples, samples per thread name, own samples per function, samples with the function
    anywhere on the stack); with `thread`, of that thread's samples only."""
    total = 0
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if m := _THREAD.match(frames[0]):
            if thread and m.group(1) != thread:
                continue
            threads[m.group(1) or "?"] += n
            frames = frames[1:] or ["(no Python frame)"]
        elif thread:
            continue
        names = [frame_name(f) for f in frames]
        total += n
        own[names[-1]] += n
        for f in set(names):
            anywhere[f] += n
    return total, threads, own, anywhere


def hottest(path: Path, top: int = 15, thread: str = "") -> str:
    """Markdown: the threads' shares, then the `top` functions by own samples, with their share
    of all samples and the share of samples they were on the stack for; with `thread` (e.g.
    `MainThread`, the event loop), shares of that thread's samples alone."""
    total, threads, own, anywhere = summarize(path, thread)
    if not total:
        return f"(no samples in {path})"
    shares = ", ".join(f"{name} {100 * n / total:.0f} %" for name, n in threads.most_common(4))
    lines = [
        f"{total:,} samples; threads: {shares or 'not recorded'}",
        "",
        "| function | self % | total % |",
        "|---|---:|---:|",
    ]
    for name, n in own.most_common(top):
        lines.append(f"| `{name}` | {100 * n / total:.1f} | {100 * anywhere[name] / total:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="The hottest functions of a py-spy raw profile.")
    p.add_argument("profile", type=Path, nargs="+")
    p.add_argument("--top", type=int, default=15)
    p.add_argument(
        "--thread", default="", help="only this thread's samples, e.g. MainThread (the event loop)"
    )
    args = p.parse_args(argv)
    for path in args.profile:
        print(f"### {path.name}\n\n{hottest(path, args.top, args.thread)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
