"""A serving process freezes what is alive at start and collects its youngest generation
less often (gc_tuning.settle_garbage_collector); run in a child process, since a frozen heap
is never freed."""

from __future__ import annotations

import subprocess
import sys

from torbit.gc_tuning import GC_YOUNG_THRESHOLD

CHILD = """
import gc
from torbit.gc_tuning import settle_garbage_collector
before = gc.get_threshold()
settle_garbage_collector()
print(before[1:] == gc.get_threshold()[1:], gc.get_threshold()[0], gc.get_freeze_count() > 0)
"""


def test_a_settled_process_collects_its_young_objects_less_often() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["True", str(GC_YOUNG_THRESHOLD), "True"]
    assert GC_YOUNG_THRESHOLD > 700  # CPython's default
