"""A ban mask set on node a, or a deop there that ends an admin's exemption from one, is
answered once node b has put out the matching member whose session listens there (xnode54).
Their node events were not `settled`: a answered as soon as the broker had them, and b put
her out only after its own store reads and write, so her telnet lines written up to ~100 ms
after the owner's answer were stored (26 in one run of a flood every 3 ms for a mask, 4 for
a deop; a kick, settled since stop 49, 0). Here b's put-out is held on a real PostgreSQL
lock (writes to the memberships wait, reads do not): the answer must wait for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from tests.helpers.pglock import TableLock
from tests.scale.clients import Clients, HttpUser
from tests.scale.conftest import NodeFactory, done, eventually
from tests.scale.mallory import applied
from torbit.core.events import BanMasksChanged, MaskExemptionEnded, NodeEvent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.usefixtures("patient_settling"),  # not the loaded machine's test
]

MASK = {"mask": "mallory!*@*"}


async def answered_after_her_put_out(
    make_node: NodeFactory,
    clients: Clients,
    store_url: str,
    kind: type[NodeEvent],
    act: Callable[[HttpUser], Coroutine[Any, Any, httpx.Response]],
    admin: bool = False,
) -> None:
    """mallory's telnet session on b listens to alice's room; `act` (alice's, on a) must be
    answered only once b has put her out; what she writes after it is not stored."""
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.owner(a, "alice", "hall")
    mallory = await clients.telnet_in(b, "mallory")
    if admin:  # an admin, whom the mask does not bar
        r = await alice.client.put("/api/v1/rooms/hall/admins/mallory")
        assert r.status_code == 204, r.text
        r = await alice.client.put("/api/v1/rooms/hall/banmasks", params=MASK)
        assert r.status_code == 204, r.text
    at_b = applied(b, kind)

    async with TableLock.held(store_url, "memberships", mode="EXCLUSIVE") as lock:
        answer = asyncio.create_task(act(alice))
        await eventually("node b applied the event", lambda: done(bool(at_b)))
        await eventually("node b's put-out waits on the lock", lock.waiting)
        # before the fix the answer came by now (b's store write gives up at 5 s: the put-out
        # then ends, logged, and b says it applied the event)
        await asyncio.wait([answer], timeout=1.5)
        assert not answer.done(), "answered while node b had not put her out"
    assert (await answer).status_code == 204
    await mallory.expect(r"^\* you were kicked from #hall by alice \(banned: mallory!\*@\*\)$")
    mallory.send("after the answer")
    await mallory.expect(r"^! ")
    texts = [m["text"] for m in await alice.history("hall")]
    assert "after the answer" not in texts


async def test_a_ban_mask_is_answered_once_the_other_node_put_her_out(
    make_node: NodeFactory, clients: Clients, empty_db: str
) -> None:
    async def ban(alice: HttpUser) -> httpx.Response:
        return await alice.client.put("/api/v1/rooms/hall/banmasks", params=MASK)

    await answered_after_her_put_out(make_node, clients, empty_db, BanMasksChanged, ban)


async def test_a_deop_is_answered_once_the_other_node_put_out_the_masked_admin(
    make_node: NodeFactory, clients: Clients, empty_db: str
) -> None:
    async def deop(alice: HttpUser) -> httpx.Response:
        return await alice.client.delete("/api/v1/rooms/hall/admins/mallory")

    await answered_after_her_put_out(
        make_node, clients, empty_db, MaskExemptionEnded, deop, admin=True
    )
