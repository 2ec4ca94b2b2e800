"""`GET /api/v1/rooms/{room}/read-marker` counts the unread messages with one counting statement
(MessageLog.count), not by reading up to 1,000 messages per call: on main each call read the
first 1,000 messages after the cursor, text and all, outside the read budget, so parallel calls
made the store read 1,000 rows each (20 calls here: 20,000 rows). The count is the same as
before: of the first 1,000 messages after the cursor, those not sent by an ignored user."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.broker import topic_prefix
from tests.helpers.http import basic, http_client, register
from tests.helpers.statements import PERIODIC, Statements
from torbit.app import App
from torbit.core.models import Draft, Message
from torbit.core.ports import MessageLog
from torbit.testing.kafka import KafkaCluster

CALLS = 20


def count_reads(log: MessageLog, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, [0] counts the messages the log is asked to read."""
    rows_read = [0]
    real_read = log.read

    async def counted_read(channel: str, **kw: Any) -> list[Message]:
        got = await real_read(channel, **kw)
        rows_read[0] += len(got)
        return got

    monkeypatch.setattr(log, "read", counted_read)
    return rows_read


async def test_parallel_unread_counts_read_no_messages(
    server: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.core is not None
    log = server.core.message_log
    async with http_client(server) as client:
        await register(client, "alice", "bob", "pest")
        for name in ("alice", "bob", "pest"):
            r = await client.put(f"/api/v1/rooms/den/members/{name}", auth=basic(name))
            assert r.status_code == 200, r.text
        assert (await client.put("/api/v1/me/ignores/pest", auth=basic("bob"))).is_success
        now = datetime.now(UTC)
        sent = await log.publish(
            [Draft("den", "pest" if i % 4 == 0 else "alice", f"m{i}", now) for i in range(1100)]
        )
        # what the old code counted: the first 1,000 after the cursor, less pest's
        expected = sum(1 for m in sent[:1000] if m.sender != "pest")
        assert expected == 750

        rows_read = count_reads(log, monkeypatch)
        engine = server.core.store.engine  # type: ignore[attr-defined]
        # the periodic work of other tasks left out (PERIODIC), and the retention
        # sweep's (its first round runs at start: its purge of messages, on a loaded machine
        # late enough to land here, reads and deletes by messages.sent_at)
        periodic = (*PERIODIC, r"messages\.sent_at <")
        with Statements(engine, ignore=periodic) as seen:
            answers = await asyncio.gather(
                *(
                    client.get("/api/v1/rooms/den/read-marker", auth=basic("bob"))
                    for _ in range(CALLS)
                )
            )
        for r in answers:
            assert r.json() == {"last_read_id": None, "unread": expected}
        assert rows_read[0] == 0  # main: 20 x 1,000
        on_messages = [sql for sql in seen.seen if "FROM messages" in sql]
        assert len(on_messages) == CALLS
        assert all("count(" in sql.lower() and "messages.text" not in sql for sql in on_messages)

        # further on: a cursor moved, the window is the 1,000 after it (here the 900 left)
        r = await client.put(
            "/api/v1/rooms/den/read-marker", json={"last_read_id": sent[199].id}, auth=basic("bob")
        )
        assert r.json() == {
            "last_read_id": sent[199].id,
            "unread": sum(1 for m in sent[200:] if m.sender != "pest"),
        }
        assert r.json()["unread"] == 675
        # alice ignores nobody: every message counts, up to the cap
        r = await client.get("/api/v1/rooms/den/read-marker", auth=basic("alice"))
        assert r.json() == {"last_read_id": None, "unread": 1000}
        assert rows_read[0] == 1  # the PUT's check that the id exists (the newest message)


@pytest.mark.kafka
async def test_unread_counts_on_kafka_are_paid_from_the_read_budget(
    make_server: ServerFactory, broker: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka counts by reading: there each count is a read of up to 1,000 messages, paid from
    the reader's budget like any read. Before, the counts read outside it: with a budget of
    1,500 and 1,100 messages after the cursor, bob's three counts read 3,000 messages and
    none was refused."""
    server = await make_server(
        message_log={"url": f"kafka://{broker.bootstrap}", "topic_prefix": topic_prefix("u")},
        limits={"read_rate": 0.001, "read_burst": 1500},
    )
    assert server.core is not None
    log = server.core.message_log
    async with http_client(server) as client:
        await register(client, "alice", "bob")
        for name in ("alice", "bob"):
            r = await client.put(f"/api/v1/rooms/den/members/{name}", auth=basic(name))
            assert r.status_code == 200, r.text
        now = datetime.now(UTC)
        await log.publish([Draft("den", "alice", f"m{i}", now) for i in range(1100)])

        rows_read = count_reads(log, monkeypatch)
        answers = [
            await client.get("/api/v1/rooms/den/read-marker", auth=basic("bob")) for _ in range(3)
        ]
        assert [r.status_code for r in answers] == [200, 200, 429], [r.text for r in answers]
        assert answers[0].json()["unread"] == 1000
        assert answers[1].json()["unread"] == 500  # what was left of the budget: a lower bound
        assert rows_read[0] == 1500
