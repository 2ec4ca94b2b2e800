"""A node's claim on its database lost while it serves (backends/store/claim.py).

On PostgreSQL the claim is a session-level advisory lock on a connection of its own: when
PostgreSQL ends that session (a restart, pg_terminate_backend, a network cut) the lock goes
silently. On main nothing noticed: the node served on without its claim, a second node could
start on the same database beside it, and two nodes on one local log lose each other's
fan-out and hand out the same message ids. Now the node takes the claim again at once and
serves on; if another session holds it by then, the local log commits nothing more (sends
503 on every door, unacknowledged) and the node stops: `torbit serve` exits 3 with one line,
and the other node serves. On SQLite the same for a lock file removed or replaced under a
running node (on main a second node then locked a new file and started)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from tests.conftest import ServerFactory
from tests.contract.conftest import PgDatabases, pg_databases  # noqa: F401 (the fixture)
from tests.helpers.http import basic, http_client, register, texts
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from tests.scale.processes import NodeProcess
from torbit.backends.store import claim
from torbit.backends.store.claim import CLAIM_APPLICATION, CLAIM_LOCK_SPACE

LOST = 'torbit_backend_failures_total{backend="claim",reason="unreachable"} 1.0'
CLAIMED = 'torbit_backend_failures_total{backend="claim",reason="claimed"} 1.0'
TAKEN = "was claimed by another torbit node"


@asynccontextmanager
async def admin(url: str) -> AsyncIterator[Any]:
    """A session of the test's on the node's database."""
    conn = await asyncpg.connect(url, timeout=5)
    try:
        yield conn
    finally:
        await conn.close()


async def claim_sessions(conn: Any) -> list[int]:
    """The pids of the sessions holding a node's claim on this database."""
    rows = await conn.fetch(
        "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid"
        " WHERE a.datname = current_database() AND a.application_name = $1"
        " AND l.locktype = 'advisory' AND l.granted",
        CLAIM_APPLICATION,
    )
    return [int(r["pid"]) for r in rows]


async def terminate_claim(conn: Any) -> int:
    """End the one claim session with pg_terminate_backend, waiting until it has ended."""
    (pid,) = await claim_sessions(conn)
    assert await conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    return pid


async def send(client: httpx.AsyncClient, text: str) -> httpx.Response:
    return await client.post("/send/lobby/alice", content=text, auth=basic("alice"))


async def receive(client: httpx.AsyncClient) -> list[str]:
    r = await client.get("/receive/lobby/alice", auth=basic("alice"))
    assert r.status_code == 200, r.text
    return texts(r.json())


async def metrics(client: httpx.AsyncClient) -> str:
    return (await client.get("/metrics")).text


@pytest.mark.postgres
async def test_a_node_takes_its_lost_claim_again_and_serves_on(
    make_server: ServerFactory,
    pg_databases: PgDatabases,  # noqa: F811
) -> None:
    url = pg_databases.create()
    app = await make_server(storage={"url": url})
    async with http_client(app) as client, admin(url) as db:
        await register(client, "alice")
        assert (await send(client, "before")).status_code == 201
        old = await terminate_claim(db)

        async with asyncio.timeout(10):  # taken again on a new session
            while (now := await claim_sessions(db)) in ([], [old]):
                await asyncio.sleep(0.02)
        assert len(now) == 1
        assert LOST in await metrics(client)
        r = await send(client, "after")
        assert r.status_code == 201, r.text
        assert await receive(client) == ["before", "after"]
        assert app.failure is None and app.core is not None


@pytest.mark.postgres
async def test_a_claim_another_session_took_stops_the_log_committing(
    make_server: ServerFactory,
    pg_databases: PgDatabases,  # noqa: F811
) -> None:
    """Another session waiting for the lock gets it the moment the claim's session ends
    (PostgreSQL grants it to the waiter), before the node can take it again: from then on
    no door's send is committed or acknowledged."""
    url = pg_databases.create()
    app = await make_server(storage={"url": url})
    async with http_client(app) as client, admin(url) as db, admin(url) as other:
        await register(client, "alice")
        assert (await send(client, "before")).status_code == 201
        telnet = await TelnetClient.connect(app.telnet_port or 0)
        await telnet.login("alice")
        irc = await RawIrc.connect(app)
        irc.send("PASS secret-pw")
        await irc.register("alice")
        irc.send("JOIN #lobby")
        await irc.expect(" 366 ")
        waiting = asyncio.create_task(
            other.execute("SELECT pg_advisory_lock($1, 0)", CLAIM_LOCK_SPACE)
        )
        async with asyncio.timeout(10):  # queued behind the node's claim
            while not await db.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                await asyncio.sleep(0.02)
        await terminate_claim(db)
        await waiting

        async with asyncio.timeout(10):
            while CLAIMED not in await metrics(client):
                await asyncio.sleep(0.02)
        assert 'torbit_backend_up{backend="claim"} 0.0' in await metrics(client)
        assert app.failure is not None and TAKEN in app.failure
        r = await send(client, "beside the other")
        assert r.status_code == 503, r.text  # not acknowledged: the sender may send again
        telnet.send("beside the other")
        await telnet.expect(f"^! message log unavailable: .*{TAKEN}")
        irc.send("PRIVMSG #lobby :beside the other")
        assert "NOTICE alice :message log unavailable" in await irc.expect(TAKEN)
        count = "SELECT count(*) FROM messages WHERE text = 'beside the other'"
        assert await db.fetchval(count) == 0
        await telnet.close()
        await irc.close()


@pytest.mark.postgres
async def test_a_node_whose_claim_another_node_took_stops_and_the_other_serves(
    make_server: ServerFactory,
    pg_databases: PgDatabases,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The first node frozen (SIGSTOP: a long pause, or cut off from the database) while
    PostgreSQL ends its claim's session; a second node starts and claims the database. Woken,
    the first finds its claim lost, cannot take it again and exits 3; the second serves."""
    url = pg_databases.create()
    first = NodeProcess(tmp_path / "first", TORBIT_STORAGE__URL=url)
    try:
        await asyncio.to_thread(first.start, 60)  # a start takes long on a loaded machine
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.http_port}") as c:
            await register(c, "alice")
            assert (await send(c, "on the first")).status_code == 201
        first.send_signal(signal.SIGSTOP)
        async with admin(url) as db:
            await terminate_claim(db)
        second = await make_server(tmp_path / "second", storage={"url": url})
        first.send_signal(signal.SIGCONT)

        assert await asyncio.to_thread(first.wait, 20) == 3, first.output()
        lines = [line for line in first.output().splitlines() if TAKEN in line]
        assert len(lines) == 1 and "this node stops" in lines[0], first.output()
        async with http_client(second) as c:
            assert (await send(c, "on the second")).status_code == 201
            assert await receive(c) == ["on the first", "on the second"]
        assert second.failure is None
    finally:
        first.send_signal(signal.SIGCONT)
        first.kill()


async def test_sqlite_a_removed_lock_file_is_locked_again_and_the_node_serves_on(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await make_server()
    lock = tmp_path / "torbit.db.lock"
    async with http_client(app) as client:
        await register(client, "alice")
        assert (await send(client, "before")).status_code == 201
        lock.unlink()  # by hand, or a restore: a second node could lock a new one
        async with asyncio.timeout(10):
            while LOST not in await metrics(client):
                await asyncio.sleep(0.02)
        assert lock.read_text() == f"{os.getpid()}\n"  # ours again
        assert (await send(client, "after")).status_code == 201
        assert await receive(client) == ["before", "after"]
        assert app.failure is None


async def test_sqlite_a_lock_file_another_node_locked_stops_the_log_committing(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await make_server()
    lock = tmp_path / "torbit.db.lock"
    async with http_client(app) as client:
        await register(client, "alice")
        lock.unlink()
        fd = os.open(lock, os.O_RDWR | os.O_CREAT)  # another node's, before ours notices
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, b"4242\n")
            async with asyncio.timeout(10):
                while CLAIMED not in await metrics(client):
                    await asyncio.sleep(0.02)
            assert app.failure is not None and f"{TAKEN} (pid 4242)" in app.failure
            r = await send(client, "beside the other")
            assert r.status_code == 503, r.text
        finally:
            os.close(fd)


class CuttingProxy:
    """A TCP proxy to PostgreSQL that can cut one connection the way a network does: its
    bytes stop flowing both ways and nobody sees it close (the server keeps the session)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut_ports: set[int] = set()  # our local ports towards the server, cut
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*self.target)
        self._writers += [w, up_w]
        port = up_w.get_extra_info("sockname")[1]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if port not in self.cut_ports:
                    dst.write(data)
            if port not in self.cut_ports:
                dst.close()

        await asyncio.gather(pump(r, up_w), pump(up_r, w), return_exceptions=True)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            w.close()


@pytest.mark.postgres
async def test_a_claim_cut_off_from_the_server_is_taken_back_from_our_own_session(
    make_server: ServerFactory,
    pg_databases: PgDatabases,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A network cut: the node hears nothing from its claim's session, while the server
    keeps that session, and its lock, alive. The node takes the claim back by ending that
    session of its own (same pid and start), not mistaking it for another node's."""
    monkeypatch.setattr(claim, "CHECK_TIMEOUT_S", 0.5)  # the cut is noticed in 1.5 s, not 6
    url = pg_databases.create()
    target = urlsplit(url)
    proxy = CuttingProxy(target.hostname or "127.0.0.1", target.port or 5432)
    proxied = target._replace(netloc=f"{target.username}@127.0.0.1:{await proxy.start()}")
    try:
        app = await make_server(storage={"url": urlunsplit(proxied)})
        async with http_client(app) as client, admin(url) as db:
            await register(client, "alice")
            (old,) = await claim_sessions(db)
            port = await db.fetchval("SELECT client_port FROM pg_stat_activity WHERE pid = $1", old)
            proxy.cut_ports.add(port)

            async with asyncio.timeout(15):  # taken again, our old session ended by the node
                while await claim_sessions(db) in ([], [old]):
                    await asyncio.sleep(0.02)
            assert not await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", old
            )
            assert 'torbit_backend_failures_total{backend="claim",reason="timeout"} 1.0' in (
                await metrics(client)
            )
            assert (await send(client, "after the cut")).status_code == 201
            assert app.failure is None
    finally:
        await proxy.close()
