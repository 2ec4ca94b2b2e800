"""The per-node memory of memberships across two nodes (`postgresql + kafka`): once both
nodes have served a user's HTTP sends (so both know the membership and ask the store
nothing), a kick, a ban or a leave made on one node refuses that user's next HTTP send on
that node at once and on the other as soon as the node event has arrived there (seen by a
telnet listener on that node)."""

from __future__ import annotations

import pytest

from tests.helpers.http import error_of, eventually
from tests.scale.clients import Clients, HttpUser
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def classic(user: HttpUser, room: str, text: str) -> int:
    r = await user.client.post(f"/send/{room}/{user.name}", content=text)
    return r.status_code


async def test_kick_ban_and_leave_refuse_the_next_http_send_on_both_nodes(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.owner(a, "alice", "hall")
    bob_a = await clients.http(a, "bob")
    bob_b = await clients.http(b, "bob", new=False)
    carol = await clients.telnet_in(b, "carol")  # tells when b has applied an event

    async def known_on_both() -> None:
        for bob in (bob_a, bob_b):  # the classic route makes him a member of a public room
            assert await classic(bob, "hall", "hi") == 201
            await bob.send("hall", "hi again")  # REST: now answered from memory

    # a kick on a
    await known_on_both()
    assert (await alice.client.delete("/api/v1/rooms/hall/members/bob")).status_code == 204
    error_of(await bob_a.post("hall", "still here?"), 403, "forbidden")
    await carol.expect(r"^\* bob was kicked from #hall by alice$")
    error_of(await bob_b.post("hall", "still here?"), 403, "forbidden")

    # a leave on a (no one is told): b has applied its event once it forgot the membership
    await known_on_both()
    assert (await bob_a.client.delete("/api/v1/rooms/hall/members/bob")).status_code == 204
    error_of(await bob_a.post("hall", "left?"), 403, "forbidden")
    core_b = b.core
    assert core_b is not None
    await eventually(lambda: core_b.membership.known.room("bob", "hall") is None)
    error_of(await bob_b.post("hall", "left?"), 403, "forbidden")

    # a ban on a: not even the classic route lets him back in
    await known_on_both()
    assert (await alice.client.put("/api/v1/rooms/hall/bans/bob")).status_code == 204
    assert await classic(bob_a, "hall", "banned?") == 403
    await carol.expect(r"^\* bob was banned from #hall by alice$")
    assert await classic(bob_b, "hall", "banned?") == 403
    error_of(await bob_b.post("hall", "banned?"), 403, "forbidden")


async def test_a_leave_on_one_node_stops_the_users_sessions_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    bob_a = await clients.http(a, "bob")
    bob_b = await clients.telnet(b, "bob")  # the same account, logged in on b
    bob_b.send("/join hall")
    await bob_b.expect(r"^\* you are in #hall")
    assert (await bob_a.client.delete("/api/v1/rooms/hall/members/bob")).status_code == 204
    await bob_b.expect(r"^\* you left #hall \(on another connection\)$")
    bob_b.send("still here?")
    await bob_b.expect(r"^! you are no longer in a room")
