"""A mute and an unmute of one user racing (alice and her room admin carol at once, on any
door or node): the store keeps the one written last, and every node's copy the one whose
event came last. When the unmute's write came after the mute's, but its event before, the
store had no mute while every node refused bob, and a second unmute said "bob is not
muted": nobody could lift it but its end (attack58, up to 30 days)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.core.conftest import Core
from torbit.core.models import AuditEntry
from torbit.errors import NotFound


async def test_an_unmute_overtaking_the_mute_it_lifted_leaves_nobody_stuck(core: Core) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    await core.moderation.create("alice", "hall")
    for name in ("bob", "carol"):
        await core.membership.become_member(name, "hall")
    await core.moderation.op("alice", "hall", "carol")
    # alice's mute is written, then held at its audit entry while carol's unmute runs whole
    held, go = asyncio.Event(), asyncio.Event()
    add_audit = core.store.add_audit

    async def audit(entry: AuditEntry) -> AuditEntry:
        if entry.action == "mute":
            held.set()
            await go.wait()
        return await add_audit(entry)

    async def muting() -> None:
        await core.moderation.mute("alice", "hall", "bob", 600)

    core.store.add_audit = audit  # type: ignore[method-assign]
    mute = asyncio.create_task(muting())
    await held.wait()
    assert await core.moderation.unmute("carol", "hall", "bob") == "bob"
    go.set()
    await mute
    # the unmute's write came last, its event first: the store has no mute, every node's
    # copy (this one's) the mute, so bob is refused
    assert not await core.store.active_mutes(datetime.now(UTC))
    assert core.mutes.silenced("hall", "bob")
    # an unmute lifts what the nodes hold (it said "bob is not muted in #hall")
    assert await core.moderation.unmute("alice", "hall", "bob") == "bob"
    assert not core.mutes.silenced("hall", "bob")
    await core.messaging.send("bob", "hall", "may I speak?")
    with pytest.raises(NotFound, match="bob is not muted in #hall"):
        await core.moderation.unmute("alice", "hall", "bob")
