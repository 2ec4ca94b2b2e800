"""Node events: typed, encoded once, applied here at once and elsewhere from the log."""

from __future__ import annotations

import json

from torbit.core.events import (
    Expelled,
    IgnoreChanged,
    MuteChanged,
    RoomDeleted,
    RoomDeletedAt,
    RoomNotice,
    decode,
    encode,
)


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


def test_a_room_deletion_is_told_as_the_previous_release_reads_it() -> None:
    """RoomDeleted keeps the four fields a node of the previous release decodes (an unknown
    field would make it skip the event: its sessions would stay in the deleted room); the
    room's identity and the deletion's time travel in RoomDeletedAt, which it skips."""
    deleted = RoomDeleted("den", "Den", "alice", "#Den was deleted by alice")
    assert set(json.loads(encode(deleted, "n"))) == {"type", "origin", "room", "room_name",
                                                     "by", "text"}  # fmt: skip
    at = RoomDeletedAt("den", "2026-12-03T20:00:00+00:00", "2026-12-03T21:00:00+00:00")
    for event in (deleted, at):
        assert decode(encode(event, "n")) == (event, "n")
