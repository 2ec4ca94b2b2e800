"""The message logs the MessageLog contract runs on (fixtures, imported by conftest.py):

    sql-sqlite       SqlLog on a fresh SQLite file
    sql-postgresql   SqlLog on this session's PostgreSQL database, emptied first
    kafka            KafkaLog on the session's Apache Kafka broker, on topics of its own

`message_logs` opens logs of one kind on one set of data (a restart is closing one and opening
another); `message_log` is one of them, started, handing what it delivers to `delivered`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.contract.conftest import empty
from tests.helpers.broker import topic_prefix
from tests.helpers.sqlite_template import migrated_sqlite
from torbit.backends.message_log.kafka import KafkaLog
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Message
from torbit.core.ports import MessageListener, MessageLog
from torbit.testing.kafka import KafkaCluster

LOGS = [
    pytest.param("sqlite", id="sql-sqlite"),
    pytest.param("postgresql", id="sql-postgresql", marks=pytest.mark.postgres),
    pytest.param("kafka", id="kafka", marks=pytest.mark.kafka),
]


class Logs:
    """Message logs of one kind sharing their data; every one opened is closed at the end."""

    def __init__(self, kind: str, make: Callable[[], MessageLog]) -> None:
        self.kind = kind
        self.new = make  # a log not started yet
        self._opened: list[MessageLog] = []

    async def open(self, listener: MessageListener = lambda m: None) -> MessageLog:
        log = self.new()
        self._opened.append(log)
        await log.start(listener)
        return log

    async def close_all(self) -> None:
        for log in self._opened:
            await log.close()


@pytest.fixture(params=LOGS)
async def message_logs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Logs]:
    store: SqlStore | None = None
    if request.param == "kafka":
        broker: KafkaCluster = request.getfixturevalue("broker")
        prefix = topic_prefix("c")
        logs = Logs(
            "kafka", lambda: KafkaLog(broker.bootstrap, topic_prefix=prefix, fetch_wait_ms=500)
        )
    else:
        if request.param == "sqlite":
            migrated_sqlite(tmp_path / "data" / "torbit.db")  # a copy: see tests/helpers
            url = f"sqlite:///{tmp_path}/data/torbit.db"
        else:
            url = request.getfixturevalue("pg_database")
        sql_store = store = SqlStore(url)
        await store.open()
        await empty(store)
        logs = Logs("sql", lambda: SqlLog(sql_store))
    yield logs
    await logs.close_all()
    if store is not None:
        await store.close()


@pytest.fixture
async def message_log(message_logs: Logs, delivered: list[Message]) -> MessageLog:
    return await message_logs.open(delivered.append)


async def until_delivered(
    delivered: list[Message], channel: str, count: int, within: float = 10
) -> list[Message]:
    """The channel's delivered messages once there are `count` (delivery may lag the ack:
    a Kafka node hears of a message from the broker)."""
    deadline = time.monotonic() + within
    while len(got := [m for m in delivered if m.channel == channel]) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(got)} of {count} messages of {channel} delivered")
        await asyncio.sleep(0.005)
    return got
