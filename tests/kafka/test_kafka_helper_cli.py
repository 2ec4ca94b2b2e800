"""`python -m torbit.testing.kafka`, which docs/operations.md offers for trying several nodes
on one machine, stopped only on Ctrl-C at a terminal. Started in the background (a shell
ignores SIGINT there) `kill -INT` did nothing, and `kill` (SIGTERM) ended Python without its
clean-up: the broker's JVM kept running with its data. Both now stop the broker."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_broker_and_removes_its_data(sig: signal.Signals) -> None:
    helper = subprocess.Popen(
        [sys.executable, "-m", "torbit.testing.kafka"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `... &` does
    )
    jvms: list[psutil.Process] = []
    try:
        assert helper.stdout is not None
        first = helper.stdout.readline()
        assert "bootstrap" in first, first
        data = Path(helper.stdout.readline().split()[4].rstrip(";"))
        assert data.is_dir()
        jvms = psutil.Process(helper.pid).children(recursive=True)
        assert jvms and all("kafka.Kafka" in " ".join(p.cmdline()) for p in jvms)
        helper.send_signal(sig)
        assert helper.wait(timeout=60) is not None
        _, alive = psutil.wait_procs(jvms, timeout=30)
        assert alive == []
        assert not data.exists()
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
        if helper.stdout is not None:
            helper.stdout.close()
        for jvm in jvms:  # on main they outlived the helper, adopted by init
            if jvm.is_running():
                jvm.kill()
