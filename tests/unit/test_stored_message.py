"""`stored_message` (core/models.py), the log's way to build a `Message` without the frozen
dataclass's `__init__`, makes the same value as `Message(...)`, every field included."""

from __future__ import annotations

import inspect
from dataclasses import fields
from datetime import UTC, datetime

from torbit.core.models import Message, MessageKind, stored_message


def test_every_field_is_filled_as_the_dataclass_fills_it() -> None:
    at = datetime(2026, 12, 7, 20, 5, 1, 123456, tzinfo=UTC)
    for kind, recipient in ((MessageKind.TEXT, None), (MessageKind.PRIVATE, "Bob")):
        args = (7, "hall", "Alice", 'say "hi"', at, kind, recipient, "alice")
        built, stored = Message(*args), stored_message(*args)
        assert stored == built and hash(stored) == hash(built) and repr(stored) == repr(built)
        for f in fields(Message):  # sender_key is not compared by ==: asked one by one
            assert getattr(stored, f.name) == getattr(built, f.name), f.name


def test_it_takes_each_field_of_the_dataclass_in_its_order() -> None:
    """A field added to Message must be added to stored_message too."""
    names = list(inspect.signature(stored_message).parameters)
    assert names == [f.name for f in fields(Message)]


def test_the_message_stays_frozen() -> None:
    m = stored_message(1, "hall", "alice", "x", datetime.now(UTC), MessageKind.TEXT, None, "alice")
    try:
        m.text = "changed"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("a stored message could be changed")
    assert m.text == "x"
