"""Engine URLs: their scheme, and a form fit for error messages and logs."""

from __future__ import annotations

import re
from pathlib import Path


def redact(url: str) -> str:
    """The URL with any password masked, fit for an error message or a log line."""
    return _PASSWORD.sub(r"\1***@", url)


_PASSWORD = re.compile(r"(://[^/:@]*:)[^/@]*@")


def scheme(url: str) -> str:
    """'postgresql+asyncpg://h/db' → 'postgresql'; 'local' → 'local'."""
    return url.partition(":")[0].partition("+")[0].strip().lower()


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (sqlite:///relative.db, sqlite:////absolute.db), else None."""
    if scheme(url) != "sqlite":
        return None
    rest = url.partition("://")[2].partition("?")[0]
    path = rest[1:] if rest.startswith("/") else rest
    return Path(path) if path and path != ":memory:" else None
