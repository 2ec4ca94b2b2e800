"""Ban and invite exceptions across two nodes (`postgresql + kafka`, `cassandra + kafka`): an
exception set on node a lets bob in on node b, which had read the room's masks before (the
node event, with its kind, dropped b's copy); lifted on a, it puts bob's telnet session on b
out (only b knows its address) and b refuses his next join. An invite exception set on a lets
him into a private room on b. Each step waits for the room's notice on b (alice's WebSocket listens there;
the masks never bar the owner): node events arrive in order, so b has dropped its copy then."""

from __future__ import annotations

import pytest

from tests.scale.clients import Clients
from tests.scale.conftest import STORES, NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.parametrize("scale_store", STORES)]


async def test_exceptions_set_on_one_node_hold_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.http(a, "alice")
    for name, private in (("hall", False), ("den", True)):
        r = await alice.client.post("/api/v1/rooms", json={"name": name, "private": private})
        assert r.status_code == 201, r.text
    alice_b = await clients.ws(b, "alice", new=False)
    for name in ("hall", "den"):
        await alice_b.subscribe(name)
    everyone = {"mask": "*!*@127.0.0.*"}
    put = await alice.client.put("/api/v1/rooms/hall/banmasks", params=everyone)
    assert put.status_code == 204
    await alice_b.frame("notice", "alice banned *!*@127.0.0.* from #hall")
    bob = await clients.telnet(b, "bob")
    bob.send("/join hall")  # b reads the room's masks (and no exception) and keeps them
    await bob.expect(r"^! you are banned from #hall$")

    exception = {"mask": "bob!*@*"}
    put = await alice.client.put("/api/v1/rooms/hall/exceptions", params=exception)
    assert put.status_code == 204
    await alice_b.frame("notice", "alice put bob!*@* on the exception list of #hall")
    bob.send("/join hall")
    await bob.expect(r"^\* you are in #hall")

    gone = await alice.client.delete("/api/v1/rooms/hall/exceptions", params=exception)
    assert gone.status_code == 204
    await bob.expect(r"^\* you were kicked from #hall by alice \(banned: \*!\*@127\.0\.0\.\*\)$")
    bob.send("/join hall")
    await bob.expect(r"^! you are banned from #hall$")

    bob.send("/join den")  # b reads den's masks: none
    await bob.expect(r"^! no such room #den$")
    invex = {"mask": "bob!*@*", "kind": "invite"}
    assert (await alice.client.put("/api/v1/rooms/den/exceptions", params=invex)).status_code == 204
    await alice_b.frame("notice", "alice put bob!*@* on the invite exception list of #den")
    bob.send("/join den")
    await bob.expect(r"^\* you are in #den")
