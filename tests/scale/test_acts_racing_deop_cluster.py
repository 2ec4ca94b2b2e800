"""A room admin's act under way on node b while the owner deops the admin on node a
(xnode54). Stop 53 made a deop wait for the admin's acts under way (`in_role`), on one node:
on b, a kick checked before the deop and written after it was still written once the owner
on a was told "took adm's admin rights" (carol kicked by someone no longer an admin, 204).
Now a node applying another node's deop, kick or ban of a user waits for that user's acts in
the room under way there, and the deop's answer waits for every node (settled). The act is
held at its store write on a real PostgreSQL lock (writes to the memberships wait, reads do
not; the deop writes the admins)."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.pglock import TableLock
from tests.scale.clients import Clients
from tests.scale.conftest import NodeFactory, eventually

pytestmark = [
    pytest.mark.slow,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.usefixtures("patient_settling"),  # not the loaded machine's test
]


async def test_a_deop_on_a_is_answered_after_the_admins_kick_under_way_on_b(
    make_node: NodeFactory, clients: Clients, empty_db: str
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    owner = await clients.owner(a, "owner", "hall")
    adm = await clients.http(b, "adm")
    carol = await clients.http(b, "carol")
    await adm.join("hall")
    await carol.join("hall")
    r = await owner.client.put("/api/v1/rooms/hall/admins/adm")
    assert r.status_code == 204, r.text

    async with TableLock.held(empty_db, "memberships", mode="EXCLUSIVE") as lock:
        kick = asyncio.create_task(adm.client.delete("/api/v1/rooms/hall/members/carol"))
        await eventually("adm's kick waits on the lock", lock.waiting)
        deop = asyncio.create_task(owner.client.delete("/api/v1/rooms/hall/admins/adm"))
        # before the fix the deop was answered by now, the kick still to be written
        await asyncio.wait([deop], timeout=3)
        assert not deop.done(), "the deop was answered before adm's kick under way was written"
        assert not kick.done()
    assert (await kick).status_code == 204  # checked before the deop began: it stands
    assert (await deop).status_code == 204
    r = await adm.client.delete("/api/v1/rooms/hall/members/owner")
    assert r.status_code == 403, r.text
