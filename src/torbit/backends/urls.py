"""Engine URLs: their scheme, and a form fit for error messages and logs."""

from __future__ import annotations

import re


def redact(url: str) -> str:
    """The URL with any password masked, fit for an error message or a log line."""
    return _PASSWORD.sub(r"\1***@", url)


_PASSWORD = re.compile(r"(://[^/:@]*:)[^/@]*@")


def scheme(url: str) -> str:
    """'postgresql+asyncpg://h/db' → 'postgresql'; 'local' → 'local'."""
    return url.partition(":")[0].partition("+")[0].strip().lower()
