"""A SQLite database migrated to head once per test session, copied where a test's fresh
database goes: Alembic's upgrade of a new file (loading env.py and the six revision scripts)
took ~0.1 s of every server start and every store fixture, hundreds of times a session.

The template is made by the real migration (`migrate.upgrade`, with the dialect's pragmas), so
a broken migration still fails every test that copies it; the migrations themselves are tested
on never-migrated databases (tests/contract/test_migrations.py, `fresh_database`). A copy is
placed only where no database is yet, created 0600 as torbit creates its own.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from torbit.backends.store import migrate
from torbit.files import private_dir

_template: list[Path] = []


def _make_template() -> Path:
    where = Path(tempfile.mkdtemp(prefix="torbit-template-"))
    atexit.register(shutil.rmtree, where, True)
    path = where / "torbit.db"
    # on a loop of its own in another thread: the caller may be inside a test's event loop
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate.upgrade(f"sqlite:///{path}")).result()
    # the engine's last connection checkpointed and removed the WAL: the one file is the whole
    # database
    assert not path.with_name("torbit.db-wal").exists()
    return path


def migrated_sqlite(path: Path) -> None:
    """Put a database at head at `path` unless one is there (its directory made 0700)."""
    if path.exists():
        return
    if not _template:
        _template.append(_make_template())
    private_dir(path.parent)
    data = _template[0].read_bytes()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
