"""An inbox's history is found by looking through the partition it shares with other inboxes
(kafka_read.py, `read_shared`): a quiet inbox's read looked at INBOX_SCAN records, 0.65 s of
the node's CPU, uncharged, as often as one account asked, and eight such reads at once held
every reader of the node, so its logins took 5 s and its joins 15 s (stop 48's probe). Now
an inbox is scanned once at a time on a node, what its scans look at is paid from its own
bucket (two whole scans at once, then one per SCAN_SECONDS: refused past it), and scans
take at most half the readers. Counted here, never timed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import TopicPartition

from tests.kafka.kafka_support import Node, NodeFactory, draft
from torbit.backends.message_log import kafka_read
from torbit.errors import RateLimited

pytestmark = pytest.mark.kafka

SCAN = 1_000  # INBOX_SCAN for these tests: the other inboxes' records fill it many times
READERS = 4


@pytest.fixture
async def busy(make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch) -> Node:
    """A node whose one inbox partition holds many records of an inbox no one reads, then
    one of each inbox read here: a read of it still looks through SCAN records."""
    monkeypatch.setattr(kafka_read, "INBOX_SCAN", SCAN)
    node = await make_node(inbox_partitions=1, readers=READERS)
    for _ in range(3):
        await node.log.publish([draft("@zed", f"z{i}") for i in range(SCAN)])
    await node.log.publish([draft(f"@{n}", "hello") for n in ("alice", "bob", "carol", "dave")])
    return node


def count_scans(node: Node) -> dict[str, int]:
    """Scans made (a reader leased for the inbox partition), and the most at once."""
    readers = node.log._readers
    assert readers is not None
    seen = {"scans": 0, "at_once": 0, "most": 0}
    lease: Callable[[TopicPartition], Any] = readers._lease

    @contextlib.asynccontextmanager
    async def counted(tp: TopicPartition) -> AsyncIterator[Any]:
        async with lease(tp) as consumer:
            scan = tp.topic.endswith(".inbox")
            seen["scans"] += scan
            seen["at_once"] += scan
            seen["most"] = max(seen["most"], seen["at_once"])
            try:
                yield consumer
            finally:
                seen["at_once"] -= scan

    readers._lease = counted  # type: ignore[method-assign]
    return seen


async def test_an_inbox_is_scanned_within_its_budget(busy: Node) -> None:
    seen = count_scans(busy)
    for _ in range(2):  # a page loaded twice: both answered, each a whole scan
        assert [m.text for m in await busy.log.read("@alice", newest=True, limit=50)] == ["hello"]
    with pytest.raises(RateLimited, match="private messages looked through") as refused:
        await busy.log.read("@alice", newest=True, limit=50)
    assert refused.value.retry_after > 1
    assert seen["scans"] == 2
    # another inbox has a budget of its own, and a room's history is no scan
    assert [m.text for m in await busy.log.read("@bob", newest=True)] == ["hello"]
    await busy.log.publish([draft("lobby", "in the room")])
    assert [m.text for m in await busy.log.read("lobby")] == ["in the room"]
    assert seen["scans"] == 3


async def test_reads_of_one_inbox_at_once_scan_one_at_a_time(busy: Node) -> None:
    seen = count_scans(busy)
    reads = [busy.log.read("@carol", newest=True, limit=50) for _ in range(8)]
    answers = await asyncio.gather(*reads, return_exceptions=True)
    answered = [a for a in answers if isinstance(a, list)]
    assert len(answered) == 2 and all(
        isinstance(a, RateLimited) for a in answers if a not in answered
    )
    assert seen["scans"] == 2 and seen["most"] == 1


async def test_scans_of_many_inboxes_leave_readers_free(busy: Node) -> None:
    seen = count_scans(busy)
    inboxes = ["@alice", "@bob", "@carol", "@dave"]
    scans = [busy.log.read(inbox, newest=True, limit=50) for inbox in inboxes]
    await busy.log.publish([draft("den", "joined")])
    answers = await asyncio.gather(*scans, busy.log.read("den"))
    assert [[m.text for m in a] for a in answers] == [["hello"]] * 4 + [["joined"]]
    assert seen["scans"] == 4 and seen["most"] == READERS // 2
