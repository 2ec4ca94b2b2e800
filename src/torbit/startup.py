"""A start that fails leaves nothing behind and says why in one line."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from torbit import __version__
from torbit.backends.urls import sqlite_path
from torbit.config import Settings
from torbit.errors import TorbitError


def _first_missing(path: Path) -> Path | None:
    """The outermost of `path` and its parents that does not exist yet."""
    if path.exists():
        return None
    top = path
    for parent in path.parents:
        if parent.exists():
            break
        top = parent
    return top


def new_paths(settings: Settings) -> list[Path]:
    """What a start would create: the SQLite file (or its new directories) and the log
    directory, those of them that do not exist now."""
    wanted = [settings.log.dir]
    db = sqlite_path(settings.storage.url)
    if db is not None:
        wanted.append(db)
    return [p for p in dict.fromkeys(_first_missing(w) for w in wanted) if p is not None]


def remove_new(paths: list[Path]) -> None:
    """Remove what `new_paths` listed, which did not exist before this start."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            for companion in ("", "-wal", "-shm", "-journal", ".lock"):
                with contextlib.suppress(OSError):
                    path.with_name(path.name + companion).unlink()


def sock_closer(sock: socket.socket) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        sock.close()

    return close


def startup_failure(e: BaseException) -> str:
    """One line naming the cause, never a traceback."""
    if isinstance(e, TorbitError):
        text = e.message
    elif isinstance(e, OSError) and e.strerror:
        text = f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    else:
        orig = getattr(e, "orig", None)  # SQLAlchemy wraps the driver's error
        text = str(orig if orig is not None else e) or type(e).__name__
    line = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    if m := _UNKNOWN_REVISION.search(line):  # Alembic's words for a newer torbit's schema
        line = (
            f"the database's schema {m.group(1)} is unknown to torbit {__version__}: it was "
            "made by a newer torbit; run that one (or restore a backup)"
        )
    return f"cannot start: {line}"


_UNKNOWN_REVISION = re.compile(r"Can't locate revision identified by '([^']*)'")
