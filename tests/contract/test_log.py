"""The MessageLog contract (torbit.core.ports.MessageLog), the same on every message log:
SqlLog on SQLite and on PostgreSQL, and KafkaLog on Apache Kafka. Ids, order, round trips,
paging, delivery of watched channels, restarts and failures. A room's ids count 1, 2, 3…
everywhere; an inbox's only increase (KafkaLog keeps every inbox in a few shared partitions,
and ids are offsets, so they skip the other inboxes' messages). What only one log does (group
commit and purge of SqlLog; topics, nodes and broker outages of KafkaLog) is tested in
test_log_sql.py and tests/kafka/."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest

from tests.contract.conftest import NOW, draft
from tests.contract.logs import Logs, until_delivered
from torbit.core.models import Message, MessageKind
from torbit.core.ports import MessageLog
from torbit.errors import ServiceUnavailable


async def fill(log: MessageLog, channel: str, n: int) -> list[Message]:
    return await log.publish([draft(channel, f"m{i}") for i in range(n)])


def ids(messages: list[Message]) -> list[int]:
    return [m.id for m in messages]


# publishing


async def test_room_ids_count_from_one_per_room(message_log: MessageLog) -> None:
    (a1,) = await message_log.publish([draft("lobby")])
    (b1,) = await message_log.publish([draft("games")])
    (a2,) = await message_log.publish([draft("lobby")])
    assert (a1.id, a2.id, b1.id) == (1, 2, 1)


async def test_inbox_ids_increase_per_inbox(message_log: MessageLog) -> None:
    sent = []
    for n in range(12):  # enough inboxes that some share a Kafka partition
        sent += await message_log.publish([draft(f"@u{n % 4}", f"m{n}")])
    for n in range(4):
        mine = [m for m in sent if m.channel == f"@u{n}"]
        assert ids(mine) == sorted(set(ids(mine))) and mine[0].id >= 1
        assert await message_log.read(f"@u{n}") == mine


async def test_a_publish_is_numbered_in_order_and_round_trips(message_log: MessageLog) -> None:
    drafts = [
        draft("lobby", "one"),
        draft("lobby", "waves", kind=MessageKind.ACTION),
        draft("@bob", 'psst ünïcödé ✓ "quoted"', kind=MessageKind.PRIVATE, recipient="Bob"),
        draft("lobby", "three", sent_at=NOW.astimezone(timezone(timedelta(hours=3)))),
    ]
    published = await message_log.publish(drafts)
    assert [(m.channel, m.id) for m in published if m.channel == "lobby"] == [
        ("lobby", 1),
        ("lobby", 2),
        ("lobby", 3),
    ]
    assert published[2].channel == "@bob" and published[2].id >= 1
    assert published == [
        Message.from_draft(d, m.id) for d, m in zip(drafts, published, strict=True)
    ]
    stored = await message_log.read("lobby") + await message_log.read("@bob")
    assert stored == [published[0], published[1], published[3], published[2]]
    for m in stored:
        assert m.sent_at == NOW and m.sent_at.utcoffset() == timedelta(0)
        assert m.sender_key == "alice"
    assert (stored[3].kind, stored[3].recipient) == (MessageKind.PRIVATE, "Bob")


async def test_empty_publish_is_a_no_op(message_log: MessageLog) -> None:
    assert await message_log.publish([]) == []
    assert await message_log.read("lobby") == []


async def test_concurrent_publishers_lose_nothing_and_leave_no_gap(
    message_log: MessageLog,
) -> None:
    channels = ["lobby", "games", "@alice"]
    per_publisher = 15

    async def publisher(i: int) -> list[Message]:
        acked = []
        for n in range(per_publisher):
            (m,) = await message_log.publish(
                [draft(channels[(i + n) % 3], f"{i}:{n}", sender=f"u{i}")]
            )
            acked.append(m)
        return acked

    results = await asyncio.gather(*(publisher(i) for i in range(20)))
    for channel in channels:
        acked = sorted((m for r in results for m in r if m.channel == channel), key=lambda m: m.id)
        stored = await message_log.read(channel, limit=1000)
        assert stored == acked  # every ack is stored, and nothing else
        if channel.startswith("@"):
            assert len(set(ids(stored))) == len(stored)
        else:
            assert ids(stored) == list(range(1, len(stored) + 1))
    for acked in results:  # one sender's messages keep their order within a channel
        for channel in channels:
            sent = ids([m for m in acked if m.channel == channel])
            assert sent == sorted(sent)


async def test_publish_before_start_or_after_close_is_unavailable(
    message_logs: Logs,
) -> None:
    with pytest.raises(ServiceUnavailable):
        await message_logs.new().publish([draft()])
    log = await message_logs.open()
    await fill(log, "lobby", 1)
    await log.close()
    with pytest.raises(ServiceUnavailable):
        await log.publish([draft()])
    await log.close()  # closing twice is fine


async def test_ids_carry_on_after_a_restart(message_logs: Logs) -> None:
    log = await message_logs.open()
    await fill(log, "lobby", 3)
    await log.close()
    log = await message_logs.open()
    assert ids(await fill(log, "lobby", 2)) == [4, 5]
    assert [m.text for m in await log.read("lobby")] == ["m0", "m1", "m2", "m0", "m1"]


async def test_deleting_a_room_empties_it_and_ids_go_on(message_log: MessageLog) -> None:
    """(A Kafka inbox shares its partition: its records stay until retention, tests/kafka.)"""
    await fill(message_log, "gone", 3)
    await fill(message_log, "lobby", 2)
    await message_log.delete_channel("gone")
    assert await message_log.read("gone") == []
    assert await message_log.read("gone", newest=True) == []
    assert ids(await fill(message_log, "gone", 1)) == [4]  # never restart
    assert ids(await message_log.read("gone")) == [4]
    assert ids(await message_log.read("lobby")) == [1, 2]  # other channels keep theirs
    assert await message_log.delete_channel("never-used") == 0


async def test_deleting_a_room_before_a_time_keeps_what_was_sent_since(
    message_log: MessageLog,
) -> None:
    """A deleted room's messages go, not those of a room made again under the name since
    (sent from its creation on): on main the deletion took the channel whole."""
    old = await message_log.publish([draft("den", f"old{i}", sent_at=NOW) for i in range(3)])
    later = NOW + timedelta(seconds=1)
    new = await message_log.publish([draft("den", f"new{i}", sent_at=later) for i in range(2)])
    await message_log.delete_channel("den", before=later)
    assert await message_log.read("den") == new
    assert await message_log.read("den", newest=True) == new
    await message_log.delete_channel("den", before=later)  # again: nothing more goes
    assert ids(await message_log.read("den")) == [4, 5] == [m.id for m in new]
    assert old[-1].id == 3


# reading


@pytest.mark.parametrize(
    ("after", "before", "limit", "newest", "expected"),
    [
        (None, None, 100, False, range(1, 11)),
        (None, None, 3, False, range(1, 4)),
        (None, None, 3, True, range(8, 11)),
        (4, None, 3, False, range(5, 8)),
        (4, None, 3, True, range(8, 11)),
        (None, 6, 3, False, range(1, 4)),
        (None, 6, 3, True, range(3, 6)),
        (2, 9, 100, False, range(3, 9)),
        (2, 9, 2, True, range(7, 9)),
        (10, None, 5, False, range(0)),
        (100, None, 5, False, range(0)),
        (None, 1, 5, True, range(0)),
        (None, 0, 5, False, range(0)),
        (5, 6, 5, False, range(0)),
        (None, None, 0, False, range(0)),
    ],
)
async def test_read_ranges(
    message_log: MessageLog,
    after: int | None,
    before: int | None,
    limit: int,
    newest: bool,
    expected: range,
) -> None:
    await fill(message_log, "lobby", 10)
    await fill(message_log, "other", 3)
    got = await message_log.read("lobby", after=after, before=before, limit=limit, newest=newest)
    assert ids(got) == list(expected)
    assert all(m.channel == "lobby" for m in got)


async def test_read_of_an_unknown_channel_is_empty(message_log: MessageLog) -> None:
    assert await message_log.read("nowhere", newest=True) == []
    assert await message_log.read("@nobody") == []


async def test_count_is_the_unread_count_of_a_read(message_log: MessageLog) -> None:
    """`count` answers what counting a `read` of the same range would: the first `limit`
    ids after `after`, less those sent before `since` or by a sender in `excluding` (keys:
    a sender's name in any case)."""
    senders = ["Alice", "PEST", "bob", "pest", "Alice", "Carol"]
    drafts = [
        draft(
            "lobby", f"m{i}", sender=senders[i % len(senders)], sent_at=NOW + timedelta(seconds=i)
        )
        for i in range(30)
    ]
    await message_log.publish(drafts)
    await fill(message_log, "other", 3)
    for after in (None, 0, 4, 17, 29, 30, 40):
        for limit in (0, 1, 7, 1000):
            for since in (NOW, NOW + timedelta(seconds=9)):
                for excluding in (frozenset(), frozenset({"pest"}), frozenset({"pest", "alice"})):
                    read = await message_log.read("lobby", after=after, limit=limit)
                    expected = sum(
                        1 for m in read if m.sender_key not in excluding and m.sent_at >= since
                    )
                    got = await message_log.count(
                        "lobby", after=after, limit=limit, since=since, excluding=excluding
                    )
                    assert got == expected, (after, limit, since, excluding)
    assert await message_log.count("lobby", after=None, limit=1000, since=NOW) == 30
    assert (
        await message_log.count(
            "lobby", after=4, limit=10, since=NOW, excluding=frozenset({"pest"})
        )
        == 7
    )
    assert await message_log.count("nowhere", after=None, limit=1000, since=NOW) == 0


async def test_paging_forward_and_backward_visits_everything_once(
    message_log: MessageLog,
) -> None:
    everything = []
    for n in (1, 7, 1, 1, 9, 4):  # batches of different sizes: the log's batches differ too
        everything += await fill(message_log, "lobby", n)
    forward: list[Message] = []
    after = None
    while page := await message_log.read("lobby", after=after, limit=5):
        forward += page
        after = page[-1].id
    backward: list[Message] = []
    before = None
    while page := await message_log.read("lobby", before=before, limit=5, newest=True):
        backward = page + backward
        before = page[0].id
    assert forward == backward == everything


# delivery


async def test_watched_channels_are_delivered_once_each_in_order(
    message_log: MessageLog, delivered: list[Message]
) -> None:
    await message_log.watch("lobby")
    await message_log.watch("lobby")  # idempotent
    await message_log.watch("@bob")
    sent = await asyncio.gather(
        *(message_log.publish([draft("lobby", f"m{i}")]) for i in range(30))
    )
    sent += [await message_log.publish([draft("@bob", "psst"), draft("lobby", "last")])]
    lobby = await until_delivered(delivered, "lobby", 31)
    assert await until_delivered(delivered, "@bob", 1) == await message_log.read("@bob")
    await asyncio.sleep(0.1)  # nothing more may come
    assert lobby == [m for m in delivered if m.channel == "lobby"]
    assert lobby == await message_log.read("lobby")
    assert sorted(ids(lobby)) == sorted(
        m.id for batch in sent for m in batch if m.channel == "lobby"
    )


async def test_a_failing_listener_does_not_stop_delivery_nor_lose_messages(
    message_logs: Logs,
) -> None:
    seen: list[Message] = []

    def listener(m: Message) -> None:
        seen.append(m)
        raise RuntimeError("boom")

    log = await message_logs.open(listener)
    await log.watch("lobby")
    assert ids(await fill(log, "lobby", 2)) == [1, 2]
    assert ids(await fill(log, "lobby", 1)) == [3]
    assert ids(await until_delivered(seen, "lobby", 3)) == [1, 2, 3]
    assert ids(await log.read("lobby")) == [1, 2, 3]


async def test_watch_unwatch_and_ping(message_log: MessageLog) -> None:
    await message_log.watch("lobby")
    await message_log.unwatch("lobby")
    await message_log.unwatch("lobby")
    await message_log.unwatch("never-watched")
    await message_log.ping()
