"""The drills' one-line summaries, printed again at the end of the run. Each is kept on its
test's report as a user property, which pytest-xdist passes from a worker to the run that
prints the summary (a list in the worker's memory would never reach it)."""

from __future__ import annotations

import pytest

DRILL_SUMMARY = "drill summary"


def drill_summaries(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [
        value
        for outcome in ("passed", "failed")
        for rep in terminalreporter.stats.get(outcome, [])
        if getattr(rep, "when", None) == "call"
        for name, value in getattr(rep, "user_properties", ())
        if name == DRILL_SUMMARY
    ]
    if lines:
        terminalreporter.section("reliability drills")
        for line in lines:
            terminalreporter.write_line(str(line))
