"""Hostile input drills, short versions: coverage-guided fuzzing of the parsers (atheris, in a
subprocess, or hypothesis where atheris does not install), and a live server under random
bytes, IAC storms, half-open connections, slowloris requests and oversized bodies while honest
users chat. Long versions: `bench/drills.py fuzz --seconds 600`, `bench/drills.py hostile`."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.drills.fuzz_parsers import check_input
from tests.drills.harness import Report, ServerProcess
from tests.drills.hostile import hostile_drill

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FUZZ_SECONDS = 15
HYPOTHESIS_EXAMPLES = 20_000
FUZZER = Path(__file__).with_name("fuzz_parsers.py")
SEEDS = [
    b"\x40\x00\x0ealice\r\nsecret\r\n\x12/join room\r\nhello\n",
    b"\x08\x01\x06\xff\xfd\x01\xff\xfb\x03\x05\xff\xfa\x18\xff\xf0",
    b"\x10\x00\x09\xff\xf6\xff\xf4ab\x03\x04\x06\x08\x7f\xe6\x97\xa5\r\x00",
    b"\x40\x20\x21@a=b;+c=d\\s :src PRIVMSG #x :hi\r\n\x0cPING x\r\x00\n",  # IRC
]


def run_fuzzer(workdir: Path, seconds: int) -> tuple[int, str]:
    """libFuzzer's exit code and its output, after `seconds` of fuzzing from the seeds."""
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(SEEDS):
        (corpus / f"seed{i}").write_bytes(seed)
    done = subprocess.run(
        [
            sys.executable,
            str(FUZZER),
            f"-max_total_time={seconds}",
            "-print_final_stats=1",
            "-rss_limit_mb=1024",
            "-timeout=10",
            str(corpus),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def fuzz_report(output: str, seconds: float, engine: str) -> Report:
    runs = re.findall(r"Done (\d+) runs", output)
    cov = re.findall(r"cov: (\d+)", output)
    return Report(
        drill="fuzz-parsers",
        deployment="in-process",
        load=f"{engine}, {seconds:.0f} s",
        faults=f"{runs[-1] if runs else '?'} generated inputs",
        seconds=seconds,
        extra={"coverage_edges": cov[-1] if cov else None, "crashes": 0},
    )


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_fuzzing_the_parsers_finds_nothing(
    tmp_path: Path, report: Callable[[Report], None]
) -> None:
    started = time.monotonic()
    code, output = run_fuzzer(tmp_path, FUZZ_SECONDS)
    assert code == 0, output[-6000:]
    report(fuzz_report(output, time.monotonic() - started, "atheris"))


@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is not None,
    reason="atheris is installed: the coverage-guided run covers this",
)
def test_fuzzing_the_parsers_finds_nothing_hypothesis(report: Callable[[Report], None]) -> None:
    started = time.monotonic()

    @settings(
        max_examples=HYPOTHESIS_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(st.binary(max_size=2048), st.sampled_from(SEEDS)))
    def fuzz(data: bytes) -> None:
        check_input(data)

    fuzz()
    report(
        fuzz_report(f"Done {HYPOTHESIS_EXAMPLES} runs", time.monotonic() - started, "hypothesis")
    )


async def test_hostile_clients_leave_honest_ones_unaffected(
    tmp_path: Path, report: Callable[[Report], None]
) -> None:
    # connections that never log in are closed after 5 s (login_timeout; 60 s by default)
    server = ServerProcess(tmp_path / "node", TORBIT_TELNET__LOGIN_TIMEOUT="5")
    try:
        r = await hostile_drill(server, seconds=10)
    finally:
        server.kill()
    report(r)
    assert r.lost == 0
    assert r.extra["honest_dropped"] == 0
    assert r.extra["honest_errors"] == 0
    assert r.extra["attacker_failures"] == 0
    assert r.extra["rss_growth_ok"]  # a correctness bound: < 200 MB, not a timing
    attacks = str(r.extra["attacks"])
    for kind in ("half-open telnet", "half-open http", "slowloris"):
        # every connection that never finished its login or request head was closed (a
        # connect that timed out on a saturated machine never was a connection to close)
        assert re.search(
            rf"{kind}: \d+ conns, [\d.]+ MB, \d+ closed by server, "
            rf"(\d+ closed late, )?(\d+ connect failed, )?0 still open",
            attacks,
        ), attacks
    assert re.search(r"endless line: \d+ conns, [\d.]+ MB, \d+ told: line too long;", attacks)
    assert re.search(r"endless header: 1 conns, [\d.]+ MB, \d+ cut off by server", attacks)
    assert re.search(r"oversized body: \d+ conns, [\d.]+ MB, \d+ HTTP 413$", attacks), attacks


@pytest.mark.kafka
@pytest.mark.postgres
async def test_hostile_clients_on_one_node_leave_the_cluster_unaffected(
    two_nodes: tuple[ServerProcess, ServerProcess], report: Callable[[Report], None]
) -> None:
    """The attack on node A while half the honest users chat from node B."""
    a, b = two_nodes
    for node in two_nodes:
        node.env["TORBIT_TELNET__LOGIN_TIMEOUT"] = "5"
    r = await hostile_drill(a, other=b, seconds=10, half_open_count=50, slowloris_count=25)
    report(r)
    assert r.acknowledged > 0
    assert r.lost == 0
    assert r.extra["honest_dropped"] == 0
    assert r.extra["honest_errors"] == 0
    assert r.extra["attacker_failures"] == 0
    assert r.extra["rss_growth_ok"]
    attacks = str(r.extra["attacks"])
    for kind in ("half-open telnet", "half-open http", "slowloris"):
        assert re.search(
            rf"{kind}: \d+ conns, [\d.]+ MB, \d+ closed by server, "
            rf"(\d+ closed late, )?(\d+ connect failed, )?0 still open",
            attacks,
        ), attacks
