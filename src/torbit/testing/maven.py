"""What the jar resolvers share (kafka_jars.py, cassandra_jars.py): Maven copying a pom's
dependencies into a folder, and the file lock that lets one test process resolve while the
others wait for it."""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
from collections.abc import Iterator
from pathlib import Path


def copy_dependencies(mvn: str, pom: Path, into: Path) -> subprocess.CompletedProcess[str]:
    """`mvn dependency:copy-dependencies` of `pom` into `into`, quiet and non-interactive;
    the caller reads the exit code and the output's end."""
    return subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={into}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on a file, held for the block (other processes wait)."""
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
