"""A node stopped while its own background work waits on the store (a PostgreSQL lock) ends
that work before its store closes. The engine's close closes only the connections in its
pool: one still checked out was returned after it into a pool nobody closes, and stayed
connected until collected, when its socket warned (an unraisable ResourceWarning, an error
under `filterwarnings = error`, in whichever later test the collection fell)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers.pglock import TableLock
from tests.helpers.telnet_client import TelnetClient
from tests.scale.clients import Clients
from tests.scale.conftest import NodeFactory, eventually
from torbit.app import App

pytestmark = [pytest.mark.slow, pytest.mark.kafka]


async def none_but(lock: TableLock) -> bool:
    """No other connection to this database than the lock's."""
    others = await lock.conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return bool(others == 0)


async def stopped_while_waiting(
    node: App, db: str, table: str, what: str, start: Callable[[], None] = lambda: None
) -> None:
    """`table` locked, `start()` the node's work on it (`what`), and stop the node while that
    work waits on the lock; the lock released, none of the node's connections is left."""
    lock = await TableLock.take(db, table)
    try:
        start()
        await eventually(f"{what} waits on the lock", lock.waiting)
        await node.stop()
        await lock.release()
        await eventually("no connection of the node's left", lambda: none_but(lock))
    finally:
        await lock.close()


async def test_a_node_stopped_while_its_lease_waits_on_a_lock_leaves_no_connection_open(
    make_node: NodeFactory, empty_db: str
) -> None:
    """The presence heartbeat renews the node's lease in the store (`nodes`) every beat; the
    stop gives a renewal it finds running a while to end, and then went on without it."""
    beats = {"presence_heartbeat_seconds": 0.2, "presence_expiry_seconds": 3600.0}
    a = await make_node("a", message_log=beats)
    await stopped_while_waiting(a, empty_db, "nodes", "a's lease")


async def test_a_node_stopped_while_a_password_check_waits_on_a_lock_leaves_no_connection_open(
    make_node: NodeFactory, clients: Clients, empty_db: str
) -> None:
    """A login's password check runs shielded (attempts alike share it): the stop cancels
    the telnet session's handler that waits for it, and the check went on without it."""
    beats = {"presence_heartbeat_seconds": 3600.0, "presence_expiry_seconds": 7200.0}
    a = await make_node("a", message_log=beats)
    await clients.http(a, "mallory")
    assert a.telnet_port is not None
    client = await TelnetClient.connect(a.telnet_port)
    try:
        await client.read_until("Name: ")
        client.send("mallory")
        await client.read_until("Password: ")
        await stopped_while_waiting(
            a, empty_db, "users", "a's password check", lambda: client.send("secret-pw")
        )
    finally:
        await client.close()
