"""Who is online in a room (`Hub.online`, the names every IRC JOIN's NAMES lists) is sorted
once and then kept in step as users come, not sorted again per joiner: N joining one room
sorted N lists of up to N names. How many users are online (IRC's LUSERS, at every login) is
counted as they come and go, not walked. Sorts are counted, never timed; and both answers
stay those of a fresh walk through any order of enters, exits, departures, detaches,
renames and sessions named after they entered."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import torbit.core.hub as hub_module
from tests.unit.test_core import FakeSession
from torbit.core.hub import Hub


def fresh_online(hub: Hub, channel: str, keys: Iterable[str]) -> list[str]:
    """The room's online names as a walk of every user finds them."""
    names = []
    for key in keys:
        p = hub.presence(key)
        if p is not None and hub.user_sessions_in(channel, key):
            names.append(p.name)
    return sorted(names, key=str.lower)


def test_a_crowd_joining_one_room_is_sorted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sorts = 0

    def counted(items: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
        nonlocal sorts
        sorts += 1
        return sorted(items, key=key)

    monkeypatch.setattr(hub_module, "sorted", counted, raising=False)
    hub = Hub(ZoneInfo("UTC"))
    names = [f"User{i:03d}" if i % 3 else f"user{i:03d}" for i in range(300)]
    random.Random(7).shuffle(names)
    for i, name in enumerate(names):
        s = FakeSession(name.lower())
        hub.attach(s, name, frozenset())
        hub.enter(s, "lobby")
        assert hub.online("lobby") == sorted(names[: i + 1], key=str.lower)
    assert sorts == 1  # main: 300, one per joiner's NAMES


def test_online_names_and_count_stay_right_through_any_changes() -> None:
    rng = random.Random(15)
    hub = Hub(ZoneInfo("UTC"))
    keys = [f"u{i}" for i in range(40)]
    sessions: list[FakeSession] = []
    for step in range(3000):
        op = rng.random()
        if op < 0.35 or not sessions:  # a new session, named before or after it enters
            key = rng.choice(keys)
            s = FakeSession(key)
            sessions.append(s)
            name = key.upper() if rng.random() < 0.5 else key
            if rng.random() < 0.8:
                hub.attach(s, name, frozenset())
                hub.enter(s, rng.choice(("a", "b")))
            else:
                hub.enter(s, rng.choice(("a", "b")))
                hub.attach(s, name, frozenset())
        elif op < 0.5:
            hub.enter(rng.choice(sessions), rng.choice(("a", "b")))
        elif op < 0.62:
            hub.exit(rng.choice(sessions), rng.choice(("a", "b")))
        elif op < 0.75:
            hub.depart(rng.choice(sessions))
        elif op < 0.88:
            s = sessions.pop(rng.randrange(len(sessions)))
            hub.detach(s)
        else:  # the user's name in other letters' case (an IRC guest's NICK)
            key = rng.choice(keys)
            hub.rename(key, key.capitalize() if rng.random() < 0.5 else key)
        for channel in ("a", "b"):
            if step % 3 == 0 or channel == "a":  # asked often, but not after every change
                assert hub.online(channel) == fresh_online(hub, channel, keys), step
        assert hub.users_online() == sum(1 for p in hub.users() if p.online), step


def test_the_list_handed_out_is_the_callers() -> None:
    hub = Hub(ZoneInfo("UTC"))
    for name in ("bob", "alice"):
        s = FakeSession(name)
        hub.attach(s, name, frozenset())
        hub.enter(s, "lobby")
    mine = hub.online("lobby")
    mine.append("mallory")
    assert hub.online("lobby") == ["alice", "bob"]
