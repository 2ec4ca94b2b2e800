"""Node events: typed, encoded once, applied here at once and elsewhere from the log."""

from __future__ import annotations

from torbit.core.events import Expelled, IgnoreChanged, MuteChanged, RoomNotice, decode, encode


def test_events_round_trip_through_their_encoding() -> None:
    for event in (
        IgnoreChanged("alice", "bob", True),
        Expelled("hall", "Hall", "bob", "Bob", "alice", "banned"),
        MuteChanged("hall", "Hall", "bob", "Bob", "alice", None),
        RoomNotice("hall", "alice set the topic", about=("alice",)),
        RoomNotice("hall", "from an older node"),
    ):
        assert decode(encode(event, "node-1")) == (event, "node-1")


def test_unknown_or_malformed_events_are_skipped() -> None:
    assert decode('{"type": "from-a-newer-node", "x": 1}') is None
    assert decode('{"type": "ignore", "user": "a"}') is None  # missing fields
    assert decode("not json") is None
    assert decode("[1, 2]") is None
