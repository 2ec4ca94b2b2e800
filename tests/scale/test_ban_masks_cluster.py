"""Ban masks across two nodes (`postgresql + kafka`, `cassandra + kafka`): a mask set on one
node puts out the matching member whose telnet session listens on the other (only that node
knows the session's address), and that node, which had read the room's masks before, refuses
the member's next join at once (the node event dropped its copy); lifted on the first node,
the join on the second goes through."""

from __future__ import annotations

import pytest

from tests.scale.clients import Clients
from tests.scale.conftest import STORES, NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.parametrize("scale_store", STORES)]


async def test_a_mask_set_on_one_node_holds_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.http(a, "alice")
    r = await alice.client.post("/api/v1/rooms", json={"name": "hall"})
    assert r.status_code == 201, r.text
    bob = await clients.telnet(b, "bob")
    bob.send("/join hall")  # b reads the room's masks (none) and keeps them
    await bob.expect(r"^\* you are in #hall")
    carol = await clients.telnet(b, "carol")
    carol.send("/join hall")
    await carol.expect(r"^\* you are in #hall")

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
