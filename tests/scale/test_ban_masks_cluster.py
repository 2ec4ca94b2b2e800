"""Ban masks across two nodes (`postgresql + kafka`, `cassandra + kafka`): a mask set on one
node puts out the matching member whose telnet session listens on the other (only that node
knows the session's address), and that node, which had read the room's masks before, refuses
the member's next join at once (the node event dropped its copy); lifted on the first node,
the join on the second goes through. A long poll parked on the other node by a member the
mask matches ends there too (403, put out: core/maskgate.py)."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.http import error_of, eventually
from tests.scale.clients import Clients
from tests.scale.conftest import STORES, NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.parametrize("scale_store", STORES)]


async def test_a_mask_set_on_one_node_holds_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.owner(a, "alice", "hall")
    bob = await clients.telnet_in(b, "bob")  # b reads the room's masks (none) and keeps them
    carol = await clients.telnet_in(b, "carol")

    mask = {"mask": "*!bob@127.0.0.*"}
    assert (await alice.client.put("/api/v1/rooms/hall/banmasks", params=mask)).status_code == 204
    await bob.expect(r"^\* you were kicked from #hall by alice \(banned: \*!bob@127\.0\.0\.\*\)$")
    await carol.expect(r"^\* bob was kicked from #hall by alice")
    bob.send("/join hall")
    await bob.expect(r"^! you are banned from #hall$")

    assert (
        await alice.client.delete("/api/v1/rooms/hall/banmasks", params=mask)
    ).status_code == 204
    await carol.expect(r"^\* alice lifted the ban on \*!bob@127\.0\.0\.\* in #hall$")
    bob.send("/join hall")
    await bob.expect(r"^\* you are in #hall")


async def test_a_mask_set_on_one_node_ends_a_long_poll_parked_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    """bob reaches #hall only over HTTP, on node b: a mask set on node a matching him ends
    his long poll parked there (403, put out); carol's poll, not matched, answers the next
    message."""
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.owner(a, "alice", "hall")
    bob = await clients.http(b, "bob")
    carol = await clients.http(b, "carol")
    for user in (bob, carol):
        r = await user.client.get(f"/receive/hall/{user.name}")  # joins: nothing to read
        assert r.status_code == 200, r.text
    wait = {"wait": 30}
    bob_poll = asyncio.create_task(bob.client.get("/receive/hall/bob", params=wait))
    carol_poll = asyncio.create_task(carol.client.get("/receive/hall/carol", params=wait))
    assert b.core is not None
    subs = b.core.subscriptions
    await eventually(lambda: subs.listener_count("hall") == 2)  # both parked on b
    mask = {"mask": "*!bob@127.0.0.*"}
    assert (await alice.client.put("/api/v1/rooms/hall/banmasks", params=mask)).status_code == 204
    said = await alice.client.post("/api/v1/rooms/hall/messages", json={"text": "after"})
    assert said.status_code == 201, said.text
    refused = await bob_poll
    assert "banned: *!bob@127.0.0.*" in error_of(refused, 403, "forbidden")
    answered = await carol_poll
    assert [m["text"] for m in answered.json()["messages"]] == ["after"]
    members = (await alice.client.get("/api/v1/rooms/hall/members")).json()["members"]
    assert "bob" not in members and "carol" in members


async def test_an_admin_deopped_on_one_node_is_matched_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    """bob, an admin of #hall listening on node b, stays when a mask matching him is set
    (admins are exempt); deopped on node a, he is matched on b, where his session is, and
    put out (attack4: the exemption ended while the session stayed open)."""
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.owner(a, "alice", "hall")
    bob = await clients.telnet_in(b, "bob")
    assert (await alice.client.put("/api/v1/rooms/hall/admins/bob")).status_code == 204
    mask = {"mask": "*!bob@127.0.0.*"}
    assert (await alice.client.put("/api/v1/rooms/hall/banmasks", params=mask)).status_code == 204
    assert (await alice.client.delete("/api/v1/rooms/hall/admins/bob")).status_code == 204
    await bob.expect(r"^\* you were kicked from #hall by alice \(banned: \*!bob@127\.0\.0\.\*\)$")
