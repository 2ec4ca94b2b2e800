"""A ban mask set on node a is answered once node b has put out the matching members whose
sessions listen there (xnode54). The mask's node event was not `settled`: a answered as soon
as the broker had it, and b put her out only after its own store reads and write, so her
telnet lines written up to ~100 ms after the owner's answer were stored (26 in one run of
a flood every 3 ms; a kick, settled since stop 49, 0). Here b's put-out is held on a real
PostgreSQL lock (writes to the memberships wait, reads do not): the answer must wait for it.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.pglock import TableLock
from tests.scale.clients import Clients
from tests.scale.conftest import NodeFactory, done, eventually
from tests.scale.mallory import applied
from torbit.core import events as node_events
from torbit.core.events import BanMasksChanged

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def test_a_ban_mask_is_answered_once_the_other_node_put_her_out(
    make_node: NodeFactory, clients: Clients, empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_events, "SETTLE_WAIT_S", 60.0)  # not the loaded machine's test
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.http(a, "alice")
    r = await alice.client.post("/api/v1/rooms", json={"name": "hall"})
    assert r.status_code == 201, r.text
    mallory = await clients.telnet(b, "mallory")
    mallory.send("/join hall")
    await mallory.expect(r"^\* you are in #hall")
    at_b = applied(b, BanMasksChanged)

    lock = await TableLock.take(empty_db, "memberships", mode="EXCLUSIVE")
    try:
        mask = {"mask": "mallory!*@*"}
        ban = asyncio.create_task(alice.client.put("/api/v1/rooms/hall/banmasks", params=mask))
        await eventually("node b applied the mask", lambda: done(bool(at_b)))
        await eventually("node b's put-out waits on the lock", lock.waiting)
        # before the fix the answer came by now (b's store write gives up at 5 s: the put-out
        # then ends, logged, and b says it applied the event)
        await asyncio.wait([ban], timeout=1.5)
        assert not ban.done(), "answered while node b had not put her out"
    finally:
        await lock.release()
        await lock.close()
    assert (await ban).status_code == 204
    await mallory.expect(r"^\* you were kicked from #hall by alice \(banned: mallory!\*@\*\)$")
    mallory.send("after the answer")
    await mallory.expect(r"^! ")
    texts = [m["text"] for m in await alice.history("hall")]
    assert "after the answer" not in texts
