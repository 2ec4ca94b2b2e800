"""A benchmark run's report, kept as results/STAMP-NAME.json with its exit code, and `log`, the
progress lines the runners print on stderr (run.py, http_bench.py, scaleout.py and those built
on http_bench), and `fmt`, how their tables show a number."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from typing import Any

from servers import BENCH_DIR

RESULTS = BENCH_DIR / "results"


def fmt(v: float | None) -> str:
    """A report table's number: thousands separated, one decimal from 100 up, three
    significant digits below, "—" for none."""
    if v is None:
        return "—"
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def saved(
    report: dict[str, Any], name: str, runs: Iterable[dict[str, Any]], stamp: str = ""
) -> int:
    """`report` written to results/STAMP-NAME.json (STAMP: now, unless given), and the exit
    code: 1 if any of its `runs` could not be measured. Targets are reported, not enforced."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{stamp or time.strftime('%Y%m%d-%H%M%S')}-{name}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {path.relative_to(BENCH_DIR.parent)}")
    return 1 if any("error" in r for r in runs) else 0
