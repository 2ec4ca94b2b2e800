"""The README's two commands on one machine: `./run-tests` must leave alone the virtualenv a
server started by the first command runs from, once what the tests need is installed."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def site_packages() -> dict[str, float]:
    """Every entry of the virtualenv's site-packages with its modification time."""
    (lib,) = (ROOT / ".venv" / "lib").glob("python3*/site-packages")
    return {p.name: p.stat().st_mtime for p in lib.iterdir()}


def run_tests() -> None:
    r = subprocess.run(
        [str(ROOT / "run-tests"), "--collect-only", "-q", "tests/unit/test_telnet.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def installed_for_this_pyproject() -> bool:
    """Whether run-tests' stamp says the virtualenv has this pyproject.toml's requirements
    (then a first run would install nothing, as in CI, where run-tests just did)."""
    stamp = ROOT / ".venv" / ".torbit-test-deps"
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return stamp.exists() and stamp.read_text().strip() == want


def test_run_tests_does_not_reinstall_into_the_virtualenv() -> None:
    if not installed_for_this_pyproject():
        run_tests()  # installs, pyproject.toml having changed since the last run
    before = site_packages()
    run_tests()
    assert site_packages() == before
