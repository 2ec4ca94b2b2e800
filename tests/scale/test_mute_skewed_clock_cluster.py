"""A mute set on node a, whose clock runs 30 s behind, checked on node b (attack57's noticed
item). The mute's end was a's clock plus its minutes: on b, whose clock is right, bob's
1-minute mute ended 30 s after it was set. It ends by the store's clock (PostgreSQL's
`now()`) on every node now."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.moderation import api, mute, open_hall, services
from tests.integration.test_mute_skewed_clock import skew_clock
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def test_a_mute_set_on_a_node_behind_lasts_its_minute_on_another(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = await make_node("b")
    skew_clock(monkeypatch, timedelta(seconds=-30))
    a = await make_node("a")
    await open_hall(a)
    await mute(a, "bob", 1)
    set_by = datetime.now(UTC)

    on_b = services(b).mutes
    async with asyncio.timeout(30):  # b applies the mute's event from the log
        while on_b.until("hall", "bob", datetime.now(UTC)) is None:
            await asyncio.sleep(0.02)
    async with api(b, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "muted here too"})
    assert r.status_code == 403 and "for 1 more minute" in r.text, (r.status_code, r.text)
    # b's clock is right: the mute runs a minute from when a set it, not 30 s (judged at the
    # store's time given; SQL's clock is the machine's)
    assert on_b.until("hall", "bob", set_by + timedelta(seconds=45)) is not None
    assert on_b.until("hall", "bob", set_by + timedelta(seconds=61)) is None
