"""Issue 10, item 15: the database, its WAL and the transcript (which holds private rooms'
messages) were world-readable (0644), so any local account could read them. Now they and
the app log are created 0600 in directories created 0700, whatever the umask; files left
0644 by an older version are tightened at start-up.

The attack is a real second account: a process running as `nobody` tries to read them."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import basic, http_client, register
from torbit.app import App

NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every account may enter, as /srv or /var/lib would be (pytest's own temp
    directories are private, which would hide what torbit does)."""
    base = Path(tempfile.mkdtemp(prefix="torbit-shared-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o000)  # the worst case: nothing is taken away by default
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def readable_by_nobody(path: Path) -> bool:
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another account")
    head = shutil.which("head")
    assert head is not None
    r = subprocess.run(
        [head, "-c", "1", str(path)], user=NOBODY, capture_output=True, check=False, cwd="/"
    )
    return r.returncode == 0


async def a_private_conversation(app: App) -> None:
    async with http_client(app) as c:
        await register(c, "alice", "bob")
        r = await c.post(
            "/api/v1/rooms", json={"name": "secret", "private": True}, auth=basic("alice")
        )
        assert r.status_code == 201, r.text
        r = await c.post(
            "/api/v1/rooms/secret/messages", json={"text": "the launch code"}, auth=basic("alice")
        )
        assert r.status_code == 201, r.text


async def test_another_account_cannot_read_the_data(
    make_server: ServerFactory, shared_dir: Path, loose_umask: None
) -> None:
    data = shared_dir / "torbit-data"  # made by torbit
    app = await make_server(data_dir=data, log={"dir": str(data / "logs")})
    await a_private_conversation(app)
    await app.stop()
    db = data / "torbit.db"
    files = [db, data / "logs" / "torbit.log", data / "logs" / "transcript.log"]
    assert "the launch code" in files[2].read_text()
    for f in files:
        assert mode(f) == 0o600, f
        assert not readable_by_nobody(f), f
    for d in (data, data / "logs"):
        assert mode(d) == 0o700, d


async def test_files_are_private_inside_an_open_directory(
    make_server: ServerFactory, shared_dir: Path, loose_umask: None
) -> None:
    """The operator made the directories, world-readable: torbit leaves them so (one may be
    the working directory) and its files are private anyway, the WAL and SHM included."""
    (shared_dir / "logs").mkdir(mode=0o755)
    app = await make_server(data_dir=shared_dir)
    await a_private_conversation(app)
    db = shared_dir / "torbit.db"
    companions = [db.with_name("torbit.db-wal"), db.with_name("torbit.db-shm")]
    assert all(p.exists() for p in companions)  # while the server runs
    files = [db, *companions, shared_dir / "logs" / "transcript.log"]
    for f in files:
        assert mode(f) == 0o600, f
        assert not readable_by_nobody(f), f
    assert mode(shared_dir / "logs") == 0o755
    await app.stop()


async def test_files_of_an_older_version_are_tightened(
    make_server: ServerFactory, shared_dir: Path, loose_umask: None
) -> None:
    app = await make_server(data_dir=shared_dir, log={"max_bytes": 1024, "backups": 2})
    await a_private_conversation(app)
    await app.stop()
    logs = shared_dir / "logs"
    old = [shared_dir / "torbit.db", logs / "transcript.log", logs / "torbit.log"]
    logs.chmod(0o755)  # as an older version left them
    for f in old:
        f.chmod(0o644)
    (logs / "transcript.log.1").write_text("an old line\n")
    (logs / "transcript.log.1").chmod(0o644)
    assert readable_by_nobody(old[1])  # as they were before this version

    app = await make_server(data_dir=shared_dir, log={"max_bytes": 1024, "backups": 2})
    async with http_client(app) as c:  # enough to roll the transcript over
        for i in range(20):
            r = await c.post(
                "/api/v1/rooms/secret/messages",
                json={"text": f"line {i:02d} " * 8},
                auth=basic("alice"),
            )
            assert r.status_code == 201
    await app.stop()
    for f in [*old, logs / "transcript.log.1", logs / "transcript.log.2"]:
        assert mode(f) == 0o600, f
        assert not readable_by_nobody(f), f
