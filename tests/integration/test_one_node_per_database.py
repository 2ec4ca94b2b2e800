"""One serving node per database with the local message log (backends/store/claim.py).

A second node on the same SQLite file or PostgreSQL database refuses to start with one line
naming the database and Kafka (`torbit serve` exits 2 on it, as on every StartupError); the
admin CLI works beside the running node; after a `kill -9` of the node a new one starts at
once, no lease to wait out. On main the second node started, and its sends collided with the
first's message ids (503). Several nodes on one database with Kafka:
tests/integration/test_member_limit_nodes.py, test_http_receive_nodes.py and tests/scale."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import CHEAP_ARGON2, ServerFactory
from tests.contract.conftest import PgDatabases, pg_databases  # noqa: F401 (the fixture)
from tests.scale.processes import NodeProcess
from torbit.cli import app as cli_app
from torbit.errors import StartupError

REFUSED = "is already served by another torbit node"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared/torbit.db"
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    return databases.create()


async def cli(config: Path, database: str, *args: str, stdin: str = "") -> Result:
    """The admin CLI, in this process (on a thread: it runs its own event loop)."""
    config.touch()  # not the torbit.toml of the directory the tests run in
    env = {"TORBIT_CONFIG": str(config), "TORBIT_STORAGE__URL": database}
    env.update({f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()})
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), input=stdin, env=env)


async def test_a_second_node_is_refused_the_cli_works_beside_and_a_killed_node_restarts_at_once(
    database: str, make_server: ServerFactory, tmp_path: Path
) -> None:
    first = NodeProcess(tmp_path / "first", TORBIT_STORAGE__URL=database)
    config = tmp_path / "torbit.toml"
    try:
        await asyncio.to_thread(first.start)
        storage = {"url": database}
        with pytest.raises(StartupError, match=REFUSED) as refused:
            await make_server(tmp_path / "second", storage=storage)
        line = refused.value.message
        assert "\n" not in line and "kafka://" in line and database.rpartition("/")[2] in line
        assert not (tmp_path / "second" / "logs").exists()  # a refused start leaves nothing

        added = await cli(
            config, database, "user", "add", "carol", "--password-stdin", stdin="correct horse\n"
        )
        assert added.exit_code == 0, added.output
        deleted = await cli(config, database, "user", "del", "carol", "--yes")  # starts the log
        assert deleted.exit_code == 0 and "deleted user carol" in deleted.output, deleted.output

        first.kill()  # SIGKILL: the claim goes with the process
        await make_server(tmp_path / "third", storage=storage)
    finally:
        first.kill()


async def test_a_second_node_in_one_process_is_refused_until_the_first_stops(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """The claim is the node's, not the process's: an App stopped gives it back."""
    storage = {"url": f"sqlite:///{tmp_path}/torbit.db"}
    first = await make_server(tmp_path, storage=storage)
    with pytest.raises(StartupError, match=REFUSED):
        await make_server(tmp_path / "b", storage=storage)
    await first.stop()
    await make_server(tmp_path / "c", storage=storage)
