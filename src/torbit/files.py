"""Private files: the database (with SQLite's WAL and shared-memory files), the app log and
the transcript hold password hashes, tokens' digests and private-room messages, so only the
account torbit runs as may read them: files 0600, the directories torbit creates 0700.

Modes are set explicitly (chmod after creating), never left to the umask. Files that already
exist are only tightened, never loosened: group and other bits are taken away, the owner's
are kept. Directories that already exist are left alone: one may be shared (the working
directory, /var/lib), and the files inside are private either way.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create `path` and any missing parents, each 0700."""
    missing: list[Path] = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    for p in reversed(missing):
        try:
            p.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs to decide
        os.chmod(p, DIR_MODE)


def tighten(path: Path) -> None:
    """Take group and other permissions away from an existing file, if it exists."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & 0o700)


def private_fd(path: str | os.PathLike[str], append: bool = True) -> int:
    """A descriptor open for writing to `path`: created 0600, or an existing file tightened."""
    flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        fd = os.open(path, flags)
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, mode & 0o700)
    else:
        os.fchmod(fd, FILE_MODE)  # whatever the umask took away
    return fd


def private_file(path: Path) -> None:
    """Make sure `path` exists as a file only its owner can read (0600 when created here)."""
    os.close(private_fd(path))
