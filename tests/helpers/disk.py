"""A real full disk: a small tmpfs (mounting needs root), filled up with one file."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(where: Path, size: str = "1m") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(disk: Path) -> Path:
    """Write until the disk is full; the filler file, to delete to free the space.

    Then every file already there is topped up with newlines to the end of its last page:
    tmpfs takes space a page (4 KiB) at a time, so a file could still take as many bytes as
    its last page had left on the full disk. The app log's next lines went there whenever
    they fitted, depending on how long the lines before were (ports, temp paths), and the
    full-disk test waited in vain for the app log to fail."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    for path in disk.rglob("*"):
        if path != filler and path.is_file():
            with contextlib.suppress(OSError), path.open("ab", buffering=0) as f:
                for _ in range(4096):
                    f.write(b"\n")
    return filler
