"""A crowded room's NAMES text is kept joined in blocks (frontends/irc/roster.py `_View`) and
brought up to date by the few names new since the last NAMES: it must read exactly as the
entries joined afresh, through any order of members coming, leaving, changing case, being
forgotten (their clients here changed), parting, shown from elsewhere, and given roles and voices;
and a crowd joining one room must not join every entry again per joiner (counted)."""

from __future__ import annotations

import random

import pytest

import torbit.frontends.irc.roster as roster_module
from torbit.core.models import Role
from torbit.frontends.irc.roster import Roster


class Door:
    """Who has a client here, and how each is shown (a mask that changes when forgotten)."""

    def __init__(self) -> None:
        self.local: set[str] = set()
        self.idents: dict[str, str] = {}
        self.lookups = 0

    def show(self, name: str, full: bool) -> str:
        self.lookups += 1
        return f"{name}!{self.idents.get(name.lower(), 'x')}@h" if full else name

    def roster(self) -> Roster:
        return Roster(self.show, self.local.__contains__)


def sort(names: set[str]) -> list[str]:
    return sorted(names, key=str.lower)


def test_a_crowd_joining_one_room_is_joined_once_not_per_joiner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(roster_module, "KEPT_FROM", 10)
    door = Door()
    roster = door.roster()
    present: set[str] = set()
    for i in range(1000):
        name = f"u{random.Random(i).randrange(10**9):09d}"
        door.local.add(name.lower())
        present.add(name)
        names = sort(present)
        text = roster.text("crowd", names, False, False, {"u0": Role.ADMIN}, set())
        assert text == " ".join(names)
    assert roster.joins == 1  # the view made once, at ten members, then kept in step
    assert door.lookups == 1000  # each member shown once


@pytest.mark.parametrize("seed", range(6))
def test_the_kept_text_is_the_entries_joined_afresh(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(roster_module, "KEPT_FROM", 4)
    monkeypatch.setattr(roster_module, "BLOCK", 3)
    monkeypatch.setattr(roster_module, "STEPS", 3)
    rng = random.Random(seed)
    door = Door()
    roster = door.roster()
    pool = [f"n{i:03d}" for i in range(60)]
    present: dict[str, str] = {}  # key -> the name as shown now
    roles: dict[str, Role] = {}
    voiced: set[str] = set()
    for _ in range(1500):
        op = rng.random()
        key = rng.choice(pool)
        if op < 0.45:  # comes (here, or from elsewhere now and then)
            present[key] = present.get(key, key)
            if rng.random() < 0.9:
                door.local.add(key)
        elif op < 0.55:  # one or a few at once
            for k in rng.sample(pool, rng.randrange(1, 6)):
                present[k] = present.get(k, k)
                door.local.add(k)
        elif op < 0.6 and key in present:  # leaves: gone
            del present[key]
            door.local.discard(key)
            roster.forget(key)
        elif op < 0.65 and key in present:  # leaves the room only (PART): nothing forgotten
            del present[key]
        elif op < 0.72 and key in present:  # changes case
            present[key] = key.upper() if present[key] == key else key
            roster.forget(key)
        elif op < 0.78:  # a client of theirs came or went here: another ident
            door.idents[key] = f"i{rng.randrange(100)}"
            roster.forget(key)
        elif op < 0.84:
            if rng.random() < 0.5:
                roles[key] = rng.choice([Role.ADMIN, Role.OWNER])
            else:
                roles.pop(key, None)
        elif op < 0.9:
            voiced.symmetric_difference_update({key})
        names = sort(set(present.values()))
        full = rng.random() < 0.3
        multi = rng.random() < 0.5
        fresh = Door()
        fresh.local, fresh.idents = door.local, door.idents
        want = " ".join(fresh.roster().entries(names, full, multi, roles, voiced))
        assert roster.text("room", names, full, multi, roles, voiced) == want
