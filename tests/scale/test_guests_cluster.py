"""IRC guests of a node that dies (SIGKILL: no goodbye, no logout) on a cluster sharing a
store and a log. A guest is an account that lives as long as its connection
(core/guests.py); on main a killed node's guests stayed in the store for good: their nicks
taken, their memberships listed in the rooms on every node. Now a surviving node deletes
them once the dead node's heartbeats have lapsed, and a node restarted after a crash deletes
them once it has heard the cluster for an expiry (core/heartbeat.py, `reclaim`).

Deadlines only bound the waits (generous, for a loaded machine): nothing here measures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from tests.scale.clients import Clients, HttpUser
from tests.scale.conftest import STORES, eventually, node_sections, process_env
from tests.scale.processes import NodeProcess
from torbit.app import App
from torbit.backends.registry import open_store
from torbit.core.models import GUEST_PASSWORD_HASH, User
from torbit.core.ports import Store
from torbit.testing.kafka import KafkaCluster
from torbit.testing.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

HEARTBEAT, EXPIRY = 0.3, 2.0  # short, so the test is short; the defaults are 5 s and 15 s


async def guest(port: int, nick: str) -> RawIrc | None:
    """An IRC guest registered as `nick` on the port, or None if the nick is taken (433)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    raw = RawIrc(reader, writer)
    raw.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    line = await raw.expect("", timeout=30)
    while " 001 " not in line and " 433 " not in line:
        line = await raw.expect("", timeout=30)
    if " 433 " in line:
        await raw.close()
        return None
    await raw.expect(" 376 ", timeout=30)
    return raw


async def ghost_free(port: int) -> bool:
    """The nick `ghost` can be had on the port (the newcomer who got it leaves again)."""
    newcomer = await guest(port, "ghost")
    if newcomer is None:
        return False
    await newcomer.close()
    return True


async def members(user: HttpUser, room: str, which: str = "members") -> list[str]:
    """The room's members (or, `which="online"`, those online on any node)."""
    r = await user.client.get(f"/api/v1/rooms/{room}/members")
    assert r.status_code == 200, r.text
    return [str(m) for m in r.json()[which]]


def node_process(workdir: Path, url: str, broker: KafkaCluster, prefix: str) -> NodeProcess:
    """A node in a process of its own, on the store at `url` and the log of `prefix`
    (`make_process`'s are the test's own): `guests_node`'s settings."""
    return NodeProcess(
        workdir,
        **process_env(url, broker.bootstrap, prefix),
        TORBIT_MESSAGE_LOG__PRESENCE_HEARTBEAT_SECONDS=str(HEARTBEAT),
        TORBIT_MESSAGE_LOG__PRESENCE_EXPIRY_SECONDS=str(EXPIRY),
        TORBIT_IRC__PORT=str(free_port()),
        TORBIT_IRC__GUESTS="true",
    )


async def guests_node(
    make_server: ServerFactory, url: str, broker: KafkaCluster, prefix: str, data_dir: Path
) -> App:
    """A node in this process, on the store at `url` and the log of `prefix`: IRC guests
    allowed, this suite's short presence heartbeat and expiry."""
    presence = {"presence_heartbeat_seconds": HEARTBEAT, "presence_expiry_seconds": EXPIRY}
    sections = node_sections(url, broker.bootstrap, prefix)
    sections["message_log"].update(presence)
    return await make_server(data_dir=data_dir, irc={"guests": True}, **sections)


async def left_over_after(store: Store, nick: str, name: str) -> None:
    """Another left-over guest, `name`, created just after the guest `nick` (and after it by
    key): once a node's sweep has deleted it, that sweep has been past `nick`."""
    user = await store.get_user(nick)
    assert user is not None
    later = user.created_at + timedelta(milliseconds=1)
    await store.create_user(User(name, GUEST_PASSWORD_HASH, later))


@pytest.mark.parametrize("scale_store", STORES)
async def test_a_dead_nodes_guests_are_deleted_by_the_survivors(
    make_server: ServerFactory,
    clients: Clients,
    broker: KafkaCluster,
    empty_db: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    await _survivor_reclaims(make_server, clients, broker, empty_db, prefix, tmp_path)


async def test_a_dead_nodes_guests_are_deleted_by_the_survivors_on_sqlite(
    make_server: ServerFactory, clients: Clients, broker: KafkaCluster, prefix: str, tmp_path: Path
) -> None:
    """Both nodes on one SQLite database file (one machine)."""
    url = f"sqlite:///{tmp_path}/shared.db"
    await _survivor_reclaims(make_server, clients, broker, url, prefix, tmp_path)


async def _survivor_reclaims(
    make_server: ServerFactory,
    clients: Clients,
    broker: KafkaCluster,
    url: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    a = await guests_node(make_server, url, broker, prefix, tmp_path / "a")
    assert a.irc_port is not None
    port = a.irc_port
    b = node_process(tmp_path / "b", url, broker, prefix)
    await asyncio.to_thread(b.start)
    try:
        watcher = await clients.http(a, "watcher")
        await watcher.join("lobby")
        ghost = await guest(int(b.env["TORBIT_IRC__PORT"]), "ghost")
        assert ghost is not None
        ghost.send("JOIN #lobby")
        await ghost.expect(" 366 ", timeout=30)
        assert "ghost" in await members(watcher, "lobby")
        await eventually(
            "a sees b's guest online", lambda: _has(members(watcher, "lobby", "online"), "ghost")
        )
        taken = await guest(port, "ghost")
        assert taken is None  # b's guest has the nick, on every node

        b.kill()  # the guest's node dies: its client is cut, nobody logs it out

        await eventually(
            "b's guest leaves the rooms", lambda: _lacks(members(watcher, "lobby"), "ghost")
        )
        await eventually("b's guest's nick is free on a", partial(ghost_free, port))
        assert "ghost" not in await members(watcher, "lobby", "online")
    finally:
        b.kill()


async def test_a_node_restarted_after_a_crash_deletes_its_guests(
    clients: Clients, broker: KafkaCluster, empty_db: str, prefix: str, tmp_path: Path
) -> None:
    """No survivor: the one node of the cluster is killed and started again."""
    b = node_process(tmp_path / "b", empty_db, broker, prefix)
    port = int(b.env["TORBIT_IRC__PORT"])
    await asyncio.to_thread(b.start)
    try:
        ghost = await guest(port, "ghost")
        assert ghost is not None
        ghost.send("JOIN #lobby")
        await ghost.expect(" 366 ", timeout=30)
        b.kill()
        await ghost.close()
        await asyncio.to_thread(b.start)
        watcher = await clients.http(b, "watcher")
        await watcher.join("lobby")

        await eventually(
            "the guest leaves the rooms", lambda: _lacks(members(watcher, "lobby"), "ghost")
        )
        await eventually("the guest's nick is free", partial(ghost_free, port))
    finally:
        b.kill()


@pytest.mark.parametrize("scale_store", STORES)
async def test_a_node_cut_off_from_the_log_keeps_its_guests_while_it_lives(
    make_server: ServerFactory,
    clients: Clients,
    broker: KafkaCluster,
    empty_db: str,
    prefix: str,
    tmp_path: Path,
) -> None:
    """Node b shares the store with node a but not the log (topics of another prefix): to a
    it is a node cut off from the broker for good, its guests online nowhere. On main a's
    sweep deleted b's guest while it was still connected there: its nick free for anyone,
    its memberships gone. Now b's lease in the store keeps it, until b dies. On PostgreSQL
    and Cassandra."""
    store = open_store(empty_db)
    await store.open()
    b = node_process(tmp_path / "b", empty_db, broker, prefix + "-b")
    await asyncio.to_thread(b.start)
    try:
        # a guest left over by a dead node, to see b's start-up sweep go by
        await store.create_user(User("zombie", GUEST_PASSWORD_HASH, _ago(60)))
        await eventually("b's sweep deletes the dead node's guest", lambda: _gone(store, "zombie"))
        ghost = await guest(int(b.env["TORBIT_IRC__PORT"]), "ghost")
        assert ghost is not None
        ghost.send("JOIN #lobby")
        await ghost.expect(" 366 ", timeout=30)
        await left_over_after(store, "ghost", "zz_dead")
        a = await guests_node(make_server, empty_db, broker, prefix, tmp_path / "a")
        assert a.irc_port is not None
        await eventually("a's sweep deletes the other one", lambda: _gone(store, "zz_dead"))
        assert await guest(a.irc_port, "ghost") is None  # still b's
        watcher = await clients.http(a, "watcher")
        assert "ghost" in await members(watcher, "lobby")
        ghost.send("JOIN #hall")  # and b's guest still chats
        await ghost.expect(" 366 ", timeout=30)

        b.kill()  # now b's lease lapses: a deletes what it left
        await eventually("b's guest is deleted", lambda: _gone(store, "ghost"))
        await eventually(
            "b's guest leaves the rooms", lambda: _lacks(members(watcher, "lobby"), "ghost")
        )
    finally:
        b.kill()
        await store.close()


def _ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


async def _gone(store: Store, key: str) -> bool:
    return await store.get_user(key) is None


async def _lacks(names: Awaitable[list[str]], name: str) -> bool:
    return name not in await names


async def _has(names: Awaitable[list[str]], name: str) -> bool:
    return name in await names
