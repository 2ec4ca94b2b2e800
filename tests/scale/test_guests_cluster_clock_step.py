"""A node's sweep of left-over IRC guests judges leases and guests' ages by the store's time
(floor59), not its own wall clock. Node a, its wall clock stepped a day forward (a VM
resumed, NTP), took every other node's lease, renewed by the other's clock a moment ago, for
one that lapsed a day ago: it deleted the guests of node b, alive but cut off from the log
(to a, online nowhere), while they were still connected there. b is this test's other
process, its clock the machine's (and the store's)."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ServerFactory
from tests.integration.test_token_clock_step import step_wall_clock
from tests.scale.conftest import eventually
from tests.scale.test_guests_cluster import _gone, guest, guests_node, left_over_after, node_process
from torbit.backends.registry import open_store
from torbit.testing.kafka import KafkaCluster

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

DAY = timedelta(hours=24)
SWEEPERS = ("torbit.services", "torbit.core.guests")  # read the wall clock for the sweep


def step_sweep_clock(monkeypatch: pytest.MonkeyPatch, step: timedelta) -> None:
    """This process's node's wall clock `step` off the machine's, for the services and for
    the sweep: its `before`, its guests' creation and its lease."""
    step_wall_clock(monkeypatch, lambda: step)

    class Stepped(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return datetime.now(UTC) + step

    for name in SWEEPERS:
        monkeypatch.setattr(importlib.import_module(name), "datetime", Stepped)


async def test_a_node_stepped_a_day_forward_keeps_a_live_node_s_guests(
    make_server: ServerFactory,
    broker: KafkaCluster,
    empty_db: str,
    prefix: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """b (the log of another prefix: cut off from a for good) has the guest ghost online
    and renews its lease; a, stepped 24 h forward, starts and sweeps. ghost stays, and a
    left-over guest created after it (no node, online nowhere) goes: the sweep passed ghost
    (on main ghost was deleted, its nick free on a)."""
    store = open_store(empty_db)
    await store.open()
    b = node_process(tmp_path / "b", empty_db, broker, prefix + "-b")
    await asyncio.to_thread(b.start)
    try:
        ghost = await guest(int(b.env["TORBIT_IRC__PORT"]), "ghost")
        assert ghost is not None
        await left_over_after(store, "ghost", "zz_dead")

        step_sweep_clock(monkeypatch, DAY)
        a = await guests_node(make_server, empty_db, broker, prefix, tmp_path / "a")
        assert a.irc_port is not None
        await eventually("a's sweep deletes the left-over guest", lambda: _gone(store, "zz_dead"))
        assert await store.get_user("ghost") is not None
        assert await guest(a.irc_port, "ghost") is None  # still b's
        ghost.send("JOIN #hall")  # and b's guest still chats
        await ghost.expect(" 366 ", timeout=30)
    finally:
        b.kill()
        await store.close()
