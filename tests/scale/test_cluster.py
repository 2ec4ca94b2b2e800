"""Two torbit nodes on one Apache Kafka broker and one store, PostgreSQL (`postgresql + kafka`)
or Cassandra (`cassandra + kafka`, the seed's own deployment):
users on different nodes and front doors chat as if on one server. Messages reach every
client on every node in one order, `/receive` cursors are shared, ignore lists follow a user
to every node, and joining a room under traffic shows history then live messages with no gap
and no duplicate."""

from __future__ import annotations

import asyncio

import pytest

from tests.scale.clients import Clients, WsUser, telnet_messages
from tests.scale.conftest import STORES, NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.parametrize("scale_store", STORES)]


async def test_telnet_on_one_node_and_websocket_on_another_chat_both_ways(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.telnet(a, "alice")
    bob = await clients.ws(b, "bob")
    await bob.subscribe("lobby")

    alice.send("hello bob, from telnet on a")
    m = (await bob.frame("message", "hello bob"))["message"]
    assert (m["sender"], m["room"]) == ("alice", "lobby")

    await bob.send({"type": "send", "room": "lobby", "text": "hello alice, from a socket on b"})
    assert await telnet_messages(alice, 2) == [
        ("alice", "hello bob, from telnet on a"),  # her own line comes back committed
        ("bob", "hello alice, from a socket on b"),
    ]

    # private messages cross nodes too (an inbox is watched where its user is connected)
    alice.send("/msg bob psst")
    private = (await bob.frame("message", "psst"))["message"]
    assert (private["kind"], private["sender"], private["recipient"]) == ("private", "alice", "bob")
    await bob.send({"type": "private", "to": "alice", "text": "psst back"})
    await alice.expect(r"psst back")


async def test_every_client_on_every_node_sees_one_order(
    make_node: NodeFactory, clients: Clients
) -> None:
    """Four senders (telnet and HTTP, on both nodes) at once; four receivers (telnet and
    WebSocket, on both nodes) see the same sequence, which is the stored one."""
    a = await make_node("a")
    b = await make_node("b")
    per_sender = 25
    telnets = [await clients.telnet(a, "ta"), await clients.telnet(b, "tb")]
    https = [await clients.http(a, "ha"), await clients.http(b, "hb")]
    for user in https:
        await user.join("lobby")
    sockets = [await clients.ws(a, "wa"), await clients.ws(b, "wb")]
    for ws in sockets:
        await ws.subscribe("lobby")

    async def telnet_send(i: int) -> None:
        for n in range(per_sender):
            telnets[i].send(f"t{i}-{n}")
            if n % 5 == 4:
                await asyncio.sleep(0.01)

    async def http_send(i: int) -> None:
        for n in range(per_sender):
            await https[i].send("lobby", f"h{i}-{n}")

    await asyncio.gather(*(telnet_send(i) for i in range(2)), *(http_send(i) for i in range(2)))
    total = 4 * per_sender
    stored = await https[0].history("lobby")
    assert [m["id"] for m in stored] == list(range(1, total + 1))
    order = [m["text"] for m in stored]
    assert sorted(order) == sorted(
        f"{kind}{i}-{n}" for kind in "th" for i in range(2) for n in range(per_sender)
    )
    for client in telnets:
        assert [text for _, text in await telnet_messages(client, total)] == order
    for ws in sockets:
        assert [m["text"] for m in await ws.wait_messages(total)] == order
        assert [m["id"] for m in ws.messages] == list(range(1, total + 1))


async def test_receive_cursor_is_the_same_whichever_node_answers(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    sender = await clients.http(a, "sender")
    carol_a = await clients.http(a, "carol")
    carol_b = await clients.http(b, "carol", new=False)
    await sender.join("den")
    await carol_a.join("den")
    for n in range(5):
        await sender.send("den", f"m{n}")

    got = [
        await carol_a.receive("den", limit=2),
        await carol_b.receive("den", limit=2),
        await carol_a.receive("den", limit=2),
        await carol_b.receive("den"),
    ]
    assert [[m["text"] for m in page] for page in got] == [["m0", "m1"], ["m2", "m3"], ["m4"], []]

    # a long poll on b is woken by a message sent on a, and moves the shared cursor
    waiting = asyncio.create_task(carol_b.receive("den", wait=15))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    sent = await sender.send("den", "wake up")
    assert [m["text"] for m in await waiting] == ["wake up"]
    assert await carol_a.receive("den") == []
    for user in (carol_a, carol_b):
        r = await user.client.get("/api/v1/rooms/den/read-marker")
        assert r.json() == {"last_read_id": sent["id"], "unread": 0}


async def test_ignoring_on_one_node_holds_for_the_same_user_on_every_node(
    make_node: NodeFactory, clients: Clients
) -> None:
    """carol ignores pest on a (telnet); her WebSocket session on b stops getting pest's
    messages from the next one sent, even one sent the moment the ignore was confirmed."""
    a = await make_node("a")
    b = await make_node("b")
    carol_on_a = await clients.telnet(a, "carol")
    carol_on_b = await clients.ws(b, "carol", new=False)
    await carol_on_b.subscribe("lobby")
    pest = await clients.http(a, "pest")
    friend = await clients.http(b, "friend")
    for user in (pest, friend):
        await user.join("lobby")

    for round_ in range(3):
        carol_on_a.send("/ignore pest")
        await carol_on_a.expect("you now ignore pest")
        await pest.send("lobby", f"spam {round_}")
        await friend.send("lobby", f"news {round_}")
        await carol_on_b.frame("message", f"news {round_}")

        carol_on_a.send("/unignore pest")
        await carol_on_a.expect("you no longer ignore pest")
        await pest.send("lobby", f"sorry {round_}")
        await carol_on_b.frame("message", f"sorry {round_}")
    texts = carol_on_b.texts()
    assert not [t for t in texts if t.startswith("spam")], texts
    assert [t for t in texts if t.startswith("sorry")] == ["sorry 0", "sorry 1", "sorry 2"]

    carol_on_a.send("/ignore pest")
    await carol_on_a.expect("you now ignore pest")
    history = await (await clients.http(b, "carol", new=False)).history("lobby")
    assert history and not [m for m in history if m["sender"] == "pest"]


async def test_joining_under_traffic_shows_history_then_live_without_gap_or_duplicate(
    make_node: NodeFactory, clients: Clients
) -> None:
    """Sessions on b join a room that a sender on a keeps writing to. Whether the room is new
    to b's consumer (the first joiner) or already watched and delivering (the others), each
    session gets the newest messages then live ones: consecutive ids, each once."""
    a = await make_node("a")
    b = await make_node("b", chat={"history_on_join": 5})
    sender = await clients.http(a, "sender")
    await sender.join("busy")
    total = 150

    async def feed() -> None:
        for n in range(total):
            await sender.send("busy", f"m{n}")

    feeding = asyncio.create_task(feed())
    joiners: list[WsUser] = []
    try:
        for i in range(8):
            await asyncio.sleep(0.1)
            ws = await clients.ws(b, f"j{i}")
            await ws.subscribe("busy")
            joiners.append(ws)
        await feeding
    finally:
        feeding.cancel()
        await asyncio.gather(feeding, return_exceptions=True)
    for ws in joiners:
        first = (await ws.wait_messages(1))[0]["id"]
        ids = [m["id"] for m in await ws.wait_messages(total + 1 - first)]
        assert ids == list(range(first, total + 1)), (ws.name, ids)
