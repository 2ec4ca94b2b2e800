"""attack61: heal60 made every 404 of an unmute publish `MuteGone`, which every node decodes
and which a node holding the mute answers with a store read. Can a user who is no room
admin make an unmute answer 404 at all, and so publish it? Through HTTP and telnet (the
doors that unmute), 30 unmutes each at once, of a user muted and of one not muted."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.conftest import ServerFactory
from tests.helpers.moderation import api, in_hall, mute, open_hall, services
from torbit.core.events import MuteGone, NodeEvent, NodeEvents


async def test_a_member_who_is_no_admin_unmuting_publishes_nothing(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await open_hall(await make_server(), "dave")
    await mute(app, "carol", 10)
    gone: list[NodeEvent] = []
    publish = NodeEvents.publish

    async def counting(self: NodeEvents, event: NodeEvent, *, settled: bool = False) -> None:
        if isinstance(event, MuteGone):
            gone.append(event)
        await publish(self, event, settled=settled)

    monkeypatch.setattr(NodeEvents, "publish", counting)
    tn = await in_hall(app, "bob")
    async with api(app, "bob") as bob:
        answers = await asyncio.gather(
            *(bob.delete(f"/api/v1/rooms/hall/mutes/{who}") for who in ("carol", "dave") * 15)
        )
    told = []
    for who in ("carol", "dave") * 15:
        tn.send(f"/unmute {who}")
        told.append((await tn.expect(r"^! ")).string)
    await tn.close()
    codes = Counter(r.status_code for r in answers)
    print(f"bob's 60 unmutes: HTTP {dict(codes)}; telnet {Counter(told)}; MuteGone {len(gone)}")
    assert set(codes) <= {403, 429}, [r.text for r in answers]
    assert all("admin" in line or "slow down" in line for line in told), told
    assert gone == []
    assert services(app).mutes.until("hall", "carol") is not None  # still muted
