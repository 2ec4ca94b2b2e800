"""Cassandra for test sessions: one node per test process (or $TORBIT_TEST_CASSANDRA), keyspaces
named after the session's pid and dropped at its end, and a fast way to empty one between
tests. Used by the contract suite and meant for the scale suite as well."""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets

from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_schema import SCHEMA_TABLES
from torbit.testing.cassandra import CassandraNode

TEST_NODE_ENV = "TORBIT_TEST_CASSANDRA"
_shared: list[CassandraNode] = []


def shared_contact_point() -> str:
    """host:port of the Cassandra that tests use: $TORBIT_TEST_CASSANDRA if set, else one node
    of this process, started on first use (about 10 s) and stopped at exit."""
    configured = os.environ.get(TEST_NODE_ENV)
    if configured:
        return configured
    if not _shared:
        _shared.append(CassandraNode.start())
        atexit.register(_shared[0].stop)
    return _shared[0].contact_point


def shared_node() -> CassandraNode | None:
    """This process's node (None when $TORBIT_TEST_CASSANDRA names another), for tests that
    freeze or restart it."""
    shared_contact_point()
    return _shared[0] if _shared else None


def new_keyspace_name() -> str:
    """A keyspace name no other test session uses (the pid says whose it is)."""
    return f"torbit_test_{os.getpid()}_{secrets.token_hex(4)}"


async def drop_keyspaces(store: CassandraStore, names: list[str]) -> None:
    """Drop these keyspaces, and those of test sessions that died before dropping theirs."""
    rows = await store.query("SELECT keyspace_name FROM system_schema.keyspaces")
    for row in rows:
        name = str(row["keyspace_name"])
        if name in names or (name.startswith("torbit_test_") and not _alive(name)):
            await store.cql.ddl(f"DROP KEYSPACE IF EXISTS {name}")


def _alive(keyspace: str) -> bool:
    try:
        os.kill(int(keyspace.split("_")[2]), 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


async def empty_keyspace(store: CassandraStore) -> None:
    """Delete every row of the store's keyspace but the schema's own, partition by partition:
    on a small test data set this takes milliseconds where TRUNCATE (a flush and a cluster-wide
    operation per table) takes 50-100 ms a table."""
    columns = await store.query(
        "SELECT table_name, column_name, kind, position FROM system_schema.columns "
        "WHERE keyspace_name = ?",
        store.ks,
    )
    keys: dict[str, list[tuple[int, str]]] = {}
    for c in columns:
        if c["kind"] == "partition_key" and c["table_name"] not in SCHEMA_TABLES:
            keys.setdefault(str(c["table_name"]), []).append(
                (int(c["position"]), str(c["column_name"]))
            )

    async def empty_table(table: str, key: list[str]) -> None:
        names = ", ".join(key)
        found = await store.query(f"SELECT DISTINCT {names} FROM {store.ks}.{table}")
        where = " AND ".join(f"{k} = ?" for k in key)
        await asyncio.gather(
            *(
                store.cql.run(
                    f"DELETE FROM {store.ks}.{table} WHERE {where}", *(row[k] for k in key)
                )
                for row in found
            )
        )

    await asyncio.gather(*(empty_table(t, [n for _, n in sorted(k)]) for t, k in keys.items()))
