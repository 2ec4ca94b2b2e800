"""`torbit db status` on the stores a fresh SQLite file cannot stand for: a never-migrated
PostgreSQL database or Cassandra keyspace, a migrated one, and one a newer torbit migrated.
The command runs in-process (typer's runner) against the real servers. Cassandra's case uses
the session's migrated keyspace: migrating a fresh one takes a minute of DDL."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_schema import HEAD
from torbit.backends.store.dialect_urls import dialect_for
from torbit.backends.store.migrate import upgrade
from torbit.cli import app

runner = CliRunner()


async def migrate(url: str) -> None:
    if url.startswith("cassandra"):
        store = CassandraStore(url)
        await store.open()
        await store.close()
    else:
        await upgrade(url)


async def newer_version(url: str, *, present: bool) -> None:
    """Add (or take back) the mark a newer torbit's migration would leave."""
    if url.startswith("cassandra"):
        store = CassandraStore(url)
        await store.cql.connect()
        try:
            if present:
                await store.cql.run(
                    f"INSERT INTO {store.ks}.schema_version (version, description) "
                    "VALUES (?, 'from a newer torbit')",
                    HEAD + 1,
                )
            else:
                await store.cql.run(
                    f"DELETE FROM {store.ks}.schema_version WHERE version = ?", HEAD + 1
                )
        finally:
            await store.close()
        return
    engine = dialect_for(url).create_engine()
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'ffff0000'"))
    finally:
        await engine.dispose()


def status(monkeypatch: pytest.MonkeyPatch, url: str) -> tuple[int, str]:
    monkeypatch.setenv("TORBIT_STORAGE__URL", url)
    result = runner.invoke(app, ["db", "status"])
    return result.exit_code, result.stdout


@pytest.mark.parametrize("backend", ["postgresql", "cassandra"])
def test_db_status_reads_without_changing(
    backend: str,
    fresh_database: Callable[[str], str],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh = fresh_database(backend)
    code, said = status(monkeypatch, fresh)
    assert code == 1 and "no schema yet" in said
    code, said = status(monkeypatch, fresh)  # looking created nothing
    assert code == 1 and "no schema yet" in said

    url = fresh if backend == "postgresql" else request.getfixturevalue("cassandra_keyspace")
    asyncio.run(migrate(url))
    code, said = status(monkeypatch, url)
    assert code == 0 and "up to date" in said

    asyncio.run(newer_version(url, present=True))
    try:
        code, said = status(monkeypatch, url)
    finally:
        if backend == "cassandra":  # the session's keyspace: leave it as found
            asyncio.run(newer_version(url, present=False))
    assert code == 1 and "made by a newer torbit" in said


def test_db_status_exits_2_when_it_cannot_tell(
    fresh_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1 means "the database answered: its schema is not this torbit's", so a rollout
    script may run `torbit db upgrade` on it; a status that could not look exits 2 instead:
    no SQLite file where the config points (upgrading would make an empty one there), or a
    database that cannot be reached (main said 1 for it, sending the script to upgrade)."""
    missing = fresh_database("sqlite")
    monkeypatch.setenv("TORBIT_STORAGE__URL", missing)
    result = runner.invoke(app, ["db", "status"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "torbit: no database at" in result.stderr
    assert not Path(missing.removeprefix("sqlite:///")).parent.exists()  # nothing created

    with socket.socket() as closed:  # bound, never listening: connecting is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        monkeypatch.setenv("TORBIT_STORAGE__URL", f"postgresql://torbit@127.0.0.1:{port}/torbit")
        result = runner.invoke(app, ["db", "status"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "torbit: storage unavailable" in result.stderr
