"""Housekeeping purges by the store's time (storeclock59), as mutes end and tokens expire
(clock58, clock59). Messages, audit entries, empty rooms and the feed's rows were purged by
the wall clock of the node running the round: one stepped a day forward (a VM resumed, NTP)
deleted the last day's rows from the shared store, for every node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ServerFactory
from tests.helpers.moderation import services
from tests.integration.test_token_clock_step import step_wall_clock
from torbit.core.models import AuditEntry, Draft, Revocation, Room

HOUR = timedelta(hours=1)


async def test_a_node_stepped_a_day_forward_purges_only_what_expired_by_the_store_s_clock(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention 24 h (messages, audit entries, an empty room's grace; the feed keeps a
    day): of each, one row 25 h old and one 1 h old. The node's wall clock steps 24 h
    forward and it runs its housekeeping round and its feed's purge: the 25 h old go, the
    1 h old stay (on main every one went: 2 messages, 2 entries, 2 rooms, 2 feed rows)."""
    jump = [timedelta(0)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    app = await make_server(
        chat={"retention_hours": 24, "empty_room_grace_hours": 24},
        moderation={"audit_retention_days": 1},
    )
    core = services(app)
    store, log = core.store, core.message_log
    now = datetime.now(UTC)
    old, recent = now - 25 * HOUR, now - HOUR
    await log.publish(
        [Draft("lobby", "alice", "old", old), Draft("lobby", "alice", "recent", recent)]
    )
    for at in (old, recent):
        await store.add_audit(AuditEntry(at=at, actor="alice", action="topic", room="x"))
    await store.create_room(Room("gone", created_at=old))
    await store.create_room(Room("kept", created_at=recent))
    first = await store.last_revocation()
    for at in (old, recent, recent):  # the newest row stays whatever its age
        await store.add_revocation(Revocation("alice", "test"), at)

    jump[0] = 24 * HOUR
    await core.retention.purge_expired()
    await core.revocations.purge()
    jump[0] = timedelta(0)

    left = (
        [m.text for m in await log.read("lobby") if m.sender == "alice"],
        [e.at for e in await store.list_audit("x")],
        [key for key in ("gone", "kept") if await store.get_room(key) is not None],
        len(await store.revocations_after(first)),
    )
    assert left == (["recent"], [recent], ["kept"], 2)
