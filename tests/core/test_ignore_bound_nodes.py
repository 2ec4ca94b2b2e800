"""An ignore list's bound (`limits.ignores_per_user`) against adds racing on two nodes: each
node counts the list before its add, so two adds that both counted one place left both went
in (stop 49: 6 of 5 on two nodes sharing Cassandra, in 5 of 8 rounds). The other node's add
is forced in between this node's count and its write."""

from __future__ import annotations

import pytest

from tests.core.conftest import Core
from tests.core.test_join_races import before_next
from torbit.errors import ListFull


async def test_an_add_racing_another_nodes_past_the_bound_is_taken_back(core: Core) -> None:
    for name in ("mallory", "ann", "ben", "cal", "dan"):
        await core.user(name)
    core.ignores.max_entries = 3
    await core.ignores.ignore("mallory", "ann")
    await core.ignores.ignore("mallory", "ben")
    # the other node counted two too, and writes its add after this node counted
    runs = before_next(core.store, "add_ignore", lambda: core.store.add_ignore("mallory", "cal"))

    with pytest.raises(ListFull, match=r"your ignore list is full \(3 users\)"):
        await core.ignores.ignore("mallory", "dan")

    assert runs == [1]
    assert sorted(await core.store.list_ignores("mallory")) == ["ann", "ben", "cal"]
    assert sorted(await core.ignores.of("mallory")) == ["ann", "ben", "cal"]
    assert await core.store.ignorers("dan") == []


async def test_adds_within_the_bound_are_kept(core: Core) -> None:
    for name in ("mallory", "ann", "ben", "cal"):
        await core.user(name)
    core.ignores.max_entries = 3
    for name in ("ann", "ben", "cal"):
        assert await core.ignores.ignore("mallory", name) == name
    assert sorted(await core.ignores.of("mallory")) == ["ann", "ben", "cal"]
