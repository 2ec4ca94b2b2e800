"""`mark_applied` / `nodes_applied`, on every store: how far each node has applied the store's
feed (the revocations), what `torbit user set-admin --revoke`, `passwd` and `del` wait for
(core/feedmarks.py). A node's mark is its own, apart from its lease (`touch_node`), which
says it shares a message log: a node on the local log marks without being taken for one."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.contract.conftest import NOW, STORE_BACKENDS
from torbit.core.ports import Store

BACKENDS_UNDER_TEST = STORE_BACKENDS


def at(seconds: int) -> datetime:
    return NOW + timedelta(seconds=seconds)


async def test_a_nodes_mark_is_seen_until_it_lapses(store: Store) -> None:
    assert await store.nodes_applied(at(0)) == {}
    await store.mark_applied("node-b", 7, at(0))
    await store.mark_applied("node-a", 0, at(1))
    assert await store.nodes_applied(at(0)) == {"node-a": 0, "node-b": 7}
    assert await store.nodes_applied(at(1)) == {"node-a": 0}
    await store.mark_applied("node-b", 9, at(2))  # moved on, and renewed
    assert await store.nodes_applied(at(0)) == {"node-a": 0, "node-b": 9}
    assert await store.nodes_applied(at(2)) == {"node-b": 9}
    assert await store.nodes_applied(at(3)) == {}
    # a mark is no lease: a node on the local log is not one sharing a message log
    assert await store.nodes_seen_since(at(0)) == []


async def test_a_lease_without_a_mark_is_a_node_that_never_says(store: Store) -> None:
    """A node of a version before the marks renews its lease only: listed, with None, so
    the CLI names it instead of taking silence for a yes."""
    await store.touch_node("old-node", at(0))
    await store.touch_node("new-node", at(0))
    await store.mark_applied("new-node", 3, at(0))
    assert await store.nodes_applied(at(0)) == {"old-node": None, "new-node": 3}
    await store.touch_node("old-node", at(5))
    assert await store.nodes_applied(at(5)) == {"old-node": None}


async def test_a_node_whose_mark_is_old_is_not_listed_whatever_its_lease(store: Store) -> None:
    """A node that said goodbye (its mark dated back: core/revocation.py `goodbye`) is not
    waited for, though its lease, renewed by its heartbeat until then, is fresh."""
    await store.touch_node("stopped", at(5))
    await store.mark_applied("stopped", 3, at(-3600))
    await store.touch_node("running", at(5))
    await store.mark_applied("running", 3, at(5))
    assert await store.nodes_applied(at(0)) == {"running": 3}


async def test_the_store_keeps_the_clock_the_marks_are_dated_and_aged_by(store: Store) -> None:
    """`clock`: the store's time (attack57: each node's own, and the CLI's, dated and aged
    the marks, so a node whose clock ran behind was taken for stopped). A mark dated by it
    is seen a moment later, aged by it; on the two sides of a tick it moves forward."""
    first = await store.clock()
    assert first.tzinfo is not None
    await store.mark_applied("node-a", 4, first)
    later = await store.clock()
    assert later >= first
    assert await store.nodes_applied(later - timedelta(seconds=15)) == {"node-a": 4}
    assert await store.nodes_applied(later + timedelta(seconds=1)) == {}
