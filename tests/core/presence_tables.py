"""Presence tables for the tests of core/presence.py: a clock the test moves, a table on
it, and beats carried from one table to others by hand, through their wire encoding."""

from __future__ import annotations

from torbit.core.events import PresenceBeat, decode, encode
from torbit.core.presence import Change, PresenceTable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def table(node: str, clock: Clock, *, chunk: int = 500, expiry: float = 15.0) -> PresenceTable:
    return PresenceTable(node, expiry=expiry, clock=clock, chunk=chunk)


def send(source: PresenceTable, *targets: PresenceTable) -> list[tuple[list[Change], bool]]:
    """Source's beats, through their wire encoding, applied to every target."""
    out = []
    for beat in source.beats():
        decoded = decode(encode(beat, "origin"))
        assert decoded is not None and isinstance(decoded[0], PresenceBeat)
        for t in targets:
            out.append(t.apply(decoded[0]))
    return out
