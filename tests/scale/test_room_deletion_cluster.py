"""A send accepted on one node while another deletes the room, committed after (postgresql +
kafka): refused, its message dropped with the room, shown nowhere in the room made again
under the name, live or read, on either node. On main the send was answered 201, its message
stayed in the room's partition and reached the new room's member on the sender's node live."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.held_calls import HeldCall
from tests.scale.clients import Clients
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def test_a_send_committed_after_another_nodes_deletion_is_refused_and_dropped(
    make_node: NodeFactory, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    assert a.core is not None and b.core is not None
    alice = await clients.http(a, "alice")
    assert (await alice.client.post("/api/v1/rooms", json={"name": "den"})).status_code == 201
    bob = await clients.http(b, "bob")
    await bob.join("den")
    watcher = await clients.telnet(b, "carol")  # on b: tells when b has heard the deletion
    watcher.send("/join den")
    await watcher.expect(r"^\* you are in #den")

    held = HeldCall(
        monkeypatch,
        b.core.message_log,
        "publish",
        when=lambda drafts: any(d.text == "late" for d in drafts),
    )
    late = asyncio.create_task(bob.post("den", "late"))  # checked on b, held before the log
    await held.until_reached()
    assert (await alice.client.delete("/api/v1/rooms/den")).status_code == 204
    await watcher.expect(r"^\* #den was deleted by alice$")

    dave = await clients.http(a, "dave")  # the room made again, on a; dave listens on b
    assert (await dave.client.post("/api/v1/rooms", json={"name": "den"})).status_code == 201
    dave_b = await clients.telnet(b, "dave")
    dave_b.send("/join den")
    await dave_b.expect(r"^\* you are in #den")
    held.let_go()

    r = await late
    assert r.status_code == 404, r.text
    assert "#den was deleted" in r.text
    await dave.send("den", "first")
    await dave_b.expect(r"<dave> first$")
    assert not [line for line in dave_b.seen if "late" in line], dave_b.seen
    for user in (dave, await clients.http(b, "dave", new=False)):
        assert [m["text"] for m in await user.history("den")] == ["first"]
    assert [m.text for m in await b.core.message_log.read("den", limit=10)] == ["first"]
