"""The Kafka backend's pure parts, no broker needed: topic names, the record format, and the
offset range a read asks for."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiokafka.partitioner import murmur2

from torbit.backends.message_log.kafka_read import read_range
from torbit.backends.message_log.kafka_topics import TopicNames, decode, encode
from torbit.core.models import Draft, Message, MessageKind


def test_rooms_have_topics_and_inboxes_share_a_fixed_set_of_partitions() -> None:
    names = TopicNames("torbit", inbox_partitions=8)
    assert names.topic("lobby") == "torbit.room.lobby"
    assert names.topic("a.b-9") == "torbit.room.a.b-9"
    assert names.topic("a.b_c-9") == "torbit.roomU.a.bUc-9"
    for channel in ("lobby", "room.user.x", "inbox", "a.b_c-9", "_", "x_y_"):
        assert names.channel(names.topic(channel)) == channel
        assert not names.is_shared(names.place(channel))
    inboxes = {names.place(f"@user{n}") for n in range(1000)}
    assert {tp.topic for tp in inboxes} == {"torbit.inbox"}
    assert {tp.partition for tp in inboxes} == set(range(8))  # all used, none beyond
    assert all(names.is_shared(tp) for tp in inboxes)
    assert names.place("@bob") == names.place("@bob")
    # Kafka's default partitioner on the key "@bob" picks the same partition
    assert names.place("@bob").partition == (murmur2(b"@bob") & 0x7FFFFFFF) % 8
    assert names.partitions("torbit.inbox") == 8 and names.partitions("torbit.room.x") == 1
    with pytest.raises(ValueError):
        names.channel("other.room.lobby")
    with pytest.raises(ValueError):
        names.channel("torbit.inbox")  # no one channel


def kafka_collision_key(topic: str) -> str:
    """What Kafka compares topic names by: two topics with one key cannot both exist."""
    return topic.replace(".", "_")


def test_no_two_rooms_have_topics_kafka_takes_for_one() -> None:
    """Kafka refused `x_y`'s topic beside `x.y`'s, so a room made after its look-alike was
    deleted could never be written to; no two room names collide now, nor with the events
    or inbox topics."""
    names = TopicNames("torbit")
    rooms = ["".join(t) for n in range(1, 5) for t in itertools.product("a._-", repeat=n)]
    topics = [names.topic(r) for r in rooms] + [names.topic("!events"), names.inbox_topic]
    keys = {kafka_collision_key(t) for t in topics}
    assert len(keys) == len(topics) == len(rooms) + 2


def test_a_room_with_an_underscore_keeps_the_topic_it_had_before() -> None:
    names = TopicNames("torbit")
    assert names.undecided("x_y") == "torbit.room.x_y"
    assert names.undecided("x.y") is None  # never moved: nothing to look up
    assert names.undecided("@x_y") is None  # inboxes share one topic
    names.decide("x_y", legacy=True)
    assert names.undecided("x_y") is None
    assert names.topic("x_y") == "torbit.room.x_y"
    assert names.channel("torbit.room.x_y") == "x_y"
    names.decide("a_b", legacy=False)
    assert names.undecided("a_b") is None and names.topic("a_b") == "torbit.roomU.aUb"


@pytest.mark.parametrize("channel", ["", "@", "Lobby", "@Bob", "a b", "#x", "é", "x" * 65, "@@x"])
def test_channels_that_are_not_keys_are_refused(channel: str) -> None:
    with pytest.raises(ValueError):
        TopicNames("torbit").topic(channel)


def test_bad_prefix_is_refused() -> None:
    with pytest.raises(ValueError):
        TopicNames("torbit/prod")


def test_record_is_compact_json_keyed_by_channel() -> None:
    sent_at = datetime(2024, 5, 1, 14, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    draft = Draft("@bob", "Alice", 'hé "there"', sent_at, MessageKind.PRIVATE, "Bob")
    key, value = encode(draft)
    assert key == b"@bob"
    assert json.loads(value) == {
        "sender": "Alice",
        "text": 'hé "there"',
        "sent_at": "2024-05-01T12:00:00.250000+00:00",
        "kind": "private",
        "recipient": "Bob",
    }
    assert b'", "' not in value and b'": ' not in value  # compact separators
    message = decode("@bob", 7, value)
    assert message == Message.from_draft(draft, 8)  # ids are offsets + 1
    assert message.sent_at.tzinfo is not None


def test_naive_times_are_taken_as_utc_and_recipient_is_optional() -> None:
    draft = Draft("lobby", "carol", "hi", datetime(2024, 1, 1, 9, 30))
    _, value = encode(draft)
    assert "recipient" not in json.loads(value)
    message = decode("lobby", 0, value)
    assert message.sent_at == datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    assert (message.kind, message.recipient) == (MessageKind.TEXT, None)


@pytest.mark.parametrize("value", [b"not json", b"{}", b'{"sender": "a"}', b"[]"])
def test_foreign_records_fail_to_decode(value: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode("lobby", 0, value)


@pytest.mark.parametrize(
    ("end", "after", "before", "limit", "newest", "expected"),
    [
        (30, None, None, 10, False, (0, 10)),
        (30, None, None, 10, True, (20, 30)),
        (30, 5, None, 3, False, (5, 8)),
        (30, 5, 8, 100, False, (5, 7)),
        (30, None, 20, 10, True, (9, 19)),
        (30, 25, None, 10, True, (25, 30)),
        (30, None, 100, 5, True, (25, 30)),
        (5, None, None, 10, True, (0, 5)),
        (0, None, None, 10, True, (0, 0)),
        (30, 30, None, 10, False, (30, 30)),
    ],
)
def test_read_range(
    end: int,
    after: int | None,
    before: int | None,
    limit: int,
    newest: bool,
    expected: tuple[int, int],
) -> None:
    assert read_range(end, after=after, before=before, limit=limit, newest=newest) == expected
