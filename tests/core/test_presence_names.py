"""Who is online in a room across nodes (`PresenceTable.names`, the names every IRC JOIN's
NAMES lists in a cluster) is sorted once and then kept in step as users come, not sorted
again per joiner: N joining one room sorted N lists of up to N names. Sorts are counted,
never timed; and the answer stays a fresh sort of who is there through any order of local
comes and goes, other nodes' beats, renames and case changes."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import pytest

import torbit.core.presence as presence_module
from tests.core.presence_tables import Clock, send, table
from torbit.core.presence import PresenceTable


def fresh(t: PresenceTable, room: str) -> list[str]:
    """The room's names sorted afresh, as `names` gave them on main."""
    return sorted((s.name for s in t._online.get(room, {}).values()), key=str.lower)


def test_a_crowd_joining_one_room_across_nodes_is_sorted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sorts = 0

    def counted(items: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
        nonlocal sorts
        sorts += 1
        return sorted(items, key=key)

    monkeypatch.setattr(presence_module, "sorted", counted, raising=False)
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    for i in range(300):
        (a if i % 2 else b).local("lobby", f"u{i:03d}", f"U{i:03d}", True)
        if i % 10 == 0:
            send(b, a)
        assert a.names("lobby") == fresh(a, "lobby")
    assert sorts <= 2, sorts  # main: one a call, 300


@pytest.mark.parametrize("seed", range(4))
def test_the_kept_names_are_a_fresh_sort_through_any_changes(seed: int) -> None:
    rng = random.Random(seed)
    clock = Clock()
    a, b = table("a", clock), table("b", clock)
    keys = [f"k{i:02d}" for i in range(40)]
    for _ in range(2000):
        op = rng.random()
        key = rng.choice(keys)
        room = rng.choice(["lobby", "dev"])
        node = a if rng.random() < 0.5 else b
        if op < 0.5:
            name = key.upper() if rng.random() < 0.2 else key
            node.local(room, key, name, True)
        elif op < 0.8:
            node.local(room, key, key, False)
        elif op < 0.9:
            node.recase(key, key.upper() if rng.random() < 0.5 else key)
        else:
            send(b, a)
        for r in ("lobby", "dev"):
            assert a.names(r) == fresh(a, r), (r, a.names(r))
