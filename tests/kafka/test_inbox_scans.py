"""An inbox's history is found by looking through the partition it shares with other inboxes
(kafka_read.py, `read_shared`): a quiet inbox's read looked at INBOX_SCAN records, 0.65 s of
the node's CPU, uncharged, as often as one account asked, and eight such reads at once held
every reader of the node, so its logins took 5 s and its joins 15 s (stop 48's probe). Now
an inbox is scanned once at a time on a node, what its scans look at is paid from its own
bucket (two whole scans at once, then one per SCAN_SECONDS: refused past it), and scans
take at most half the readers (refused past them, not queued). Counted here, never timed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import TopicPartition

from tests.kafka.kafka_support import Node, NodeFactory, draft, eventually
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


def count_scans(node: Node, gate: asyncio.Event | None = None) -> dict[str, int]:
    """Scans made (a reader leased for the inbox partition), and the most at once; with a
    `gate`, each scan holds its reader until the gate opens."""
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
                if scan and gate is not None:
                    await gate.wait()
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
    """The others are refused while it scans, not queued: queued ones outlasted the read's
    bound on a loaded node, each a 503 that marked the log unhealthy."""
    seen = count_scans(busy)
    reads = [busy.log.read("@carol", newest=True, limit=50) for _ in range(8)]
    answers = await asyncio.gather(*reads, return_exceptions=True)
    answered = [a for a in answers if isinstance(a, list)]
    refused = [a for a in answers if isinstance(a, RateLimited)]
    assert len(answered) == 1 and len(refused) == 7, answers
    assert all("already" in str(e) for e in refused), refused
    assert seen["scans"] == 1 and seen["most"] == 1
    await busy.log.read("@carol", newest=True, limit=50)  # the second of the bucket's two
    assert seen["scans"] == 2


async def test_scans_of_many_inboxes_leave_readers_free(busy: Node) -> None:
    """Scans held open on half the readers: a third inbox's is refused, a room's history
    read is answered meanwhile; then the held ones answer."""
    gate = asyncio.Event()
    seen = count_scans(busy, gate)
    held = [asyncio.create_task(busy.log.read(i, newest=True)) for i in ("@alice", "@bob")]
    await eventually(lambda: seen["at_once"] == READERS // 2)
    with pytest.raises(RateLimited, match="busy reading private messages"):
        await busy.log.read("@carol", newest=True)
    await busy.log.publish([draft("den", "joined")])
    assert [m.text for m in await busy.log.read("den")] == ["joined"]
    gate.set()
    assert [[m.text for m in await read] for read in held] == [["hello"], ["hello"]]
    assert seen["scans"] == READERS // 2 and seen["most"] == READERS // 2
