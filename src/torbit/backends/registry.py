"""Backends chosen by URL scheme: one small table each for stores and message logs, holding
import paths so that only the chosen backend (and its driver) is ever imported.

    storage.url      sqlite:///torbit-data/torbit.db    → backends.store.sql.SqlStore
                     postgresql://torbit@db:5432/torbit → backends.store.sql.SqlStore
                     cassandra://db:9042[,db2:9042]/ks  → backends.store.cassandra.CassandraStore
    message_log.url  local                              → backends.message_log.sql.SqlLog
                     kafka://host:9092[,host:9092]      → backends.message_log.kafka.KafkaLog
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from torbit.backends.urls import redact, scheme
from torbit.core.ports import MessageLog, Store
from torbit.errors import ConfigError, StartupError

if TYPE_CHECKING:
    from torbit.backends.store.claim import DatabaseClaim

STORES: dict[str, str] = {
    "sqlite": "torbit.backends.store.sql:SqlStore",
    "postgresql": "torbit.backends.store.sql:SqlStore",
    "postgres": "torbit.backends.store.sql:SqlStore",
    "cassandra": "torbit.backends.store.cassandra:CassandraStore",
}

LOGS: dict[str, str] = {
    "local": "torbit.backends.message_log.sql:SqlLog",
    "kafka": "torbit.backends.message_log.kafka:KafkaLog",
}


def _load(path: str, what: str, url: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        missing = e.name or module_name
        raise ConfigError(f"{what} {redact(url)!r} needs {missing}, which is not installed") from e
    return getattr(module, attr)


def _unknown(what: str, url: str, table: dict[str, str]) -> ConfigError:
    known = ", ".join(f"{s}:" if s != "local" else s for s in table)
    return ConfigError(f"{what} {redact(url)!r}: unknown scheme; known are {known}")


def open_store(
    url: str,
    synchronous: str | None = None,
    *,
    consistency: str | None = None,
    command_timeout: float | None = None,
) -> Store:
    """The store for `storage.url`, not yet opened (call `await store.open()`).
    `synchronous` is SQLite's setting, `consistency` Cassandra's; each store takes its own.
    `command_timeout` bounds a statement on every engine."""
    kind = scheme(url)
    path = STORES.get(kind)
    if path is None:
        raise _unknown("storage url", url, STORES)
    cls = _load(path, "storage url", url)
    option: dict[str, object] = {"command_timeout": command_timeout}
    option.update(
        {"consistency": consistency} if kind == "cassandra" else {"synchronous": synchronous}
    )
    store: Store = cls(url, **{k: v for k, v in option.items() if v is not None})
    return store


async def claim_database(store: Store, log_url: str) -> DatabaseClaim | None:
    """With the local message log, claim the store's database for this serving node alone
    (backends/store/claim.py): a second node on it is refused with a StartupError naming
    the database. Returns the claim (to keep, then release); None when nothing is claimed
    (Kafka: several nodes share one database; a store the local log cannot use, which
    open_log refuses in words)."""
    if scheme(log_url) != "local":
        return None
    from torbit.backends.store.sql import SqlStore

    if not isinstance(store, SqlStore):
        return None
    from torbit.backends.store.claim import claim

    return await claim(store.dialect)


async def refuse_beside_shared_log(store: Store, url: str, within: float) -> None:
    """A node on the local message log, on a database that nodes sharing a Kafka log use
    (each renews its lease in the store every heartbeat): it would keep its own messages and
    see none of theirs, the chat split in two without a word. Refused in one line."""
    seen = await store.nodes_seen_since(datetime.now(UTC) - timedelta(seconds=within))
    if seen:
        raise StartupError(
            f"database {redact(url)} is served by {len(seen)} torbit node(s) sharing a message "
            f"log (a lease renewed within {within:g} s): with message_log.url local this node "
            f"would see none of their messages, nor they its; set message_log.url to theirs "
            f"(docs/operations.md, 'Running on several machines')"
        )


async def refuse_beside_local_log(store: Store, url: str, log_url: str) -> None:
    """A node sharing Kafka, on a database that a node on the local message log serves: each
    would keep its own messages and never see the other's, the chat split in two without a
    word (the reverse of `refuse_beside_shared_log`). Refused in one line."""
    if scheme(log_url) == "local":
        return
    from torbit.backends.store.sql import SqlStore

    if not isinstance(store, SqlStore):
        return
    from torbit.backends.store.claim import claimed_now

    if await claimed_now(store.dialect):
        raise StartupError(
            f"database {redact(url)} is served by a torbit node on the local message log: "
            f"this node would see none of its messages, nor it this node's; stop it, or set "
            f"its message_log.url to this node's (docs/operations.md, 'Running on several "
            f"machines')"
        )


def consumer_lag(log_url: str, message_log: MessageLog) -> Callable[[], int] | None:
    """How far behind the node's consumer of the message log is (KafkaLog.lag); None for
    the local log, which delivers what it commits."""
    if scheme(log_url) != "kafka":
        return None
    from torbit.backends.message_log.kafka import KafkaLog

    return message_log.lag if isinstance(message_log, KafkaLog) else None


def fence_log(message_log: MessageLog, claim: DatabaseClaim) -> None:
    """Let the local log commit only while the node holds its claim on the database."""
    from torbit.backends.message_log.sql import SqlLog

    if isinstance(message_log, SqlLog):
        message_log.fence = claim


def open_log(
    url: str,
    store: Store,
    *,
    topic_prefix: str,
    replication_factor: int,
    retention_hours: float,
    fetch_wait_ms: int = 5,
    inbox_partitions: int = 16,
) -> MessageLog:
    """The message log for `message_log.url`, not yet started (call `await log.start(listener)`).
    `local` keeps messages in the store's database, so it needs an SQL store; the topic,
    retention and fetch settings are Kafka's (the local log is purged by the chat service
    instead)."""
    kind = scheme(url)
    path = LOGS.get(kind)
    if path is None:
        raise _unknown("message_log url", url, LOGS)
    cls = _load(path, "message_log url", url)
    if kind == "local":
        from torbit.backends.store.sql import SqlStore

        if not isinstance(store, SqlStore):
            raise ConfigError(
                f"message_log url {url!r} keeps messages in the SQL store; "
                f"storage url must be sqlite: or postgresql: (with cassandra:, the message "
                f"log is kafka://)"
            )
        log: MessageLog = cls(store)
        return log
    bootstrap = url.partition("://")[2].strip("/")
    if not bootstrap:
        raise ConfigError(f"message_log url {url!r}: name the brokers, e.g. kafka://localhost:9092")
    log = cls(
        bootstrap=bootstrap,
        topic_prefix=topic_prefix,
        replication_factor=replication_factor,
        retention_ms=int(retention_hours * 3600 * 1000),
        fetch_wait_ms=fetch_wait_ms,
        inbox_partitions=inbox_partitions,
    )
    return log
