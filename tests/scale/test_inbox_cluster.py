"""Private messages on two nodes after the inbox change: every inbox lives in one of the
`message_log.inbox_partitions` partitions of one shared topic. Users on either node write to
each other, each one's history (newest first, paged back and forth) is the same on both nodes,
a node delivers no one else's private messages, and the partitions a node fetches stay
bounded by rooms + events + inbox_partitions however many users are logged in."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from tests.helpers.http import eventually
from tests.scale.clients import Clients, HttpUser
from tests.scale.conftest import NodeFactory
from torbit.app import App
from torbit.backends.message_log.kafka import KafkaLog

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

PARTITIONS = 4


def kafka_log(node: App) -> KafkaLog:
    assert node.core is not None
    log = node.core.message_log
    assert isinstance(log, KafkaLog)
    return log


async def private_page(user: HttpUser, **params: Any) -> list[dict[str, Any]]:
    r = await user.client.get("/api/v1/private-messages", params=params)
    assert r.status_code == 200, r.text
    messages: list[dict[str, Any]] = r.json()["messages"]
    return messages


async def send_private(user: HttpUser, to: str, text: str) -> dict[str, Any]:
    r = await user.client.post("/api/v1/private-messages", json={"to": to, "text": text})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_private_messages_cross_nodes_both_ways_and_to_no_one_else(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a", message_log={"inbox_partitions": PARTITIONS})
    b = await make_node("b", message_log={"inbox_partitions": PARTITIONS})
    alice = await clients.telnet(a, "alice")
    bob = await clients.ws(b, "bob")
    # more users on both nodes, so bob's and alice's partitions hold other inboxes too
    others = [await clients.ws((a, b)[n % 2], f"u{n}") for n in range(8)]
    carol = await clients.http(a, "carol")

    alice.send("/msg bob from alice on a")
    got = (await bob.frame("message", "from alice on a"))["message"]
    assert (got["kind"], got["sender"], got["recipient"]) == ("private", "alice", "bob")
    await bob.send({"type": "private", "to": "alice", "text": "from bob on b"})
    await alice.expect(r"from bob on b")
    await send_private(carol, "bob", "from carol over http on a")
    await bob.frame("message", "from carol over http on a")
    for n, other in enumerate(others):  # traffic to the other inboxes, interleaved
        await send_private(carol, other.name, f"for {other.name} {n}")
    await bob.send({"type": "private", "to": "carol", "text": "bob answers carol"})
    for other in others:
        await other.frame("message", f"for {other.name}")
    await asyncio.sleep(0.5)  # anything misrouted has had time to arrive
    assert [m["text"] for m in bob.messages] == [  # his own come back: his inbox's copy
        "from alice on a",
        "from bob on b",
        "from carol over http on a",
        "bob answers carol",
    ]
    for n, other in enumerate(others):
        assert [m["text"] for m in other.messages] == [f"for {other.name} {n}"]


async def test_private_history_is_the_same_on_both_nodes_and_pages_both_ways(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a", message_log={"inbox_partitions": PARTITIONS})
    b = await make_node("b", message_log={"inbox_partitions": PARTITIONS})
    bob_a = await clients.http(a, "bob")
    bob_b = await clients.http(b, "bob", new=False)
    senders = [
        await clients.http(node, name)
        for node, name in ((a, "alice"), (b, "dave"), (a, "erin"), (b, "frank"))
    ]
    sent = []
    for n in range(30):
        sender = senders[n % len(senders)]
        sent.append(await send_private(sender, "bob", f"to bob {n}"))
        # noise in other inboxes (some in bob's partition, with 4 partitions)
        await send_private(senders[(n + 1) % len(senders)], senders[n % 3].name, f"noise {n}")
    ids = [m["id"] for m in sent]
    assert ids == sorted(set(ids))  # increasing within bob's inbox (with gaps: shared)

    for bob in (bob_a, bob_b):
        newest = await private_page(bob, limit=10)
        assert [m["text"] for m in newest] == [f"to bob {n}" for n in range(20, 30)]
        everything = await private_page(bob, limit=100)
        assert [m["id"] for m in everything] == ids
        # back from the newest, ten at a time
        back: list[dict[str, Any]] = []
        before = None
        while page := await private_page(bob, limit=10, **({"before": before} if before else {})):
            back = page + back
            before = page[0]["id"]
        assert back == everything
        # forward from a cursor, as a client polling for what is new does
        forward = await private_page(bob, limit=5, after=ids[24])
        assert [m["id"] for m in forward] == ids[25:]
        assert await private_page(bob, after=ids[-1]) == []

    # what arrives later is seen at once on the other node's cursor
    late = await send_private(senders[0], "bob", "late")
    for bob in (bob_a, bob_b):
        assert [m["text"] for m in await private_page(bob, after=ids[-1])] == ["late"]
    assert late["id"] > ids[-1]


async def test_a_nodes_fetch_set_does_not_grow_with_its_users(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a", message_log={"inbox_partitions": PARTITIONS})
    first = await clients.ws(a, "user0")
    log = kafka_log(a)

    def fetch_set() -> tuple[int, int]:
        fetched = log.fetched()
        inbox = [tp for tp in fetched if tp.topic.endswith(".inbox")]
        return len(fetched), len(inbox)

    async def settled(inbox_partitions: int) -> tuple[int, int]:
        """The fetch set once it names that many inbox partitions, or as it is after 10 s (the
        reassignment follows a watch by 20 ms, longer on a loaded machine)."""
        with contextlib.suppress(TimeoutError):
            await eventually(lambda: fetch_set()[1] == inbox_partitions)
        return fetch_set()

    total_one, inbox_one = await settled(1)
    assert inbox_one == 1
    users = [first]
    for n in range(1, 40):
        users.append(await clients.ws(a, f"user{n}"))
    inboxes = [c for c in log.watched() if c.startswith("@")]
    assert len(inboxes) == 40
    rooms = [c for c in log.watched() if not c.startswith("@")]
    total, inbox = await settled(PARTITIONS)
    assert inbox == PARTITIONS  # 40 users, 4 partitions: every one used, none more
    assert total <= len(rooms) + PARTITIONS
    assert total - total_one == PARTITIONS - inbox_one  # only inbox partitions were added

    # the last user of a partition leaving drops it; others keep theirs
    def inboxes_watched() -> list[str]:
        return [c for c in log.watched() if c.startswith("@")]

    for user in users:
        await user.close()
    with contextlib.suppress(TimeoutError):  # each close is seen by the node shortly
        await eventually(lambda: not inboxes_watched())
    assert inboxes_watched() == []
    assert (await settled(0))[1] == 0

    # and the node still delivers to a newcomer's inbox
    newcomer = await clients.ws(a, "late")
    sender = await clients.http(a, "sender")
    await send_private(sender, "late", "welcome")
    await newcomer.frame("message", "welcome")
