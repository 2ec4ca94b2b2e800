"""A message older than the retention is shown and counted by no read, though the log still
holds it: SQL until its next purge round (every 60 s), Kafka until the broker drops its
segment (up to about 65 minutes later). Here the services' clock moves on past the
retention and nothing purges: a room's history (a page, a read bounded by time as IRC's
CHATHISTORY makes), the history on joining and whether it reached the read cursor,
`/receive` and the unread count, the inbox and one conversation. What is inside the
retention still shows. On main every read showed whatever the log held."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tests.core.conftest import Core
from torbit.core.joinchecks import RoomRules
from torbit.core.models import Message

RETENTION = timedelta(hours=1)
PAST_IT = RETENTION + timedelta(minutes=1)


class Clock:
    """Now, `ahead` later."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core_clock(clock: Clock) -> Clock:
    return clock


@pytest.fixture
def retention() -> timedelta:
    return RETENTION


@pytest.fixture
def room_rules() -> RoomRules:
    return RoomRules(history_on_join=5)


def texts(messages: Sequence[Message]) -> list[str]:
    return [m.text for m in messages]


async def _den(core: Core, clock: Clock, old: int, fresh: int) -> list[Message]:
    """alice and bob in #den, where alice said `old` messages, then `fresh` more once the
    clock passed the retention of the old ones; all of them, in order."""
    for name in ("alice", "bob"):
        await core.user(name)
        await core.membership.become_member(name, "den")
    sent = [await core.messaging.send("alice", "den", f"old {n}") for n in range(old)]
    clock.ahead += PAST_IT
    sent += [await core.messaging.send("alice", "den", f"fresh {n}") for n in range(fresh)]
    return sent


async def test_expired_messages_are_in_no_room_read(core: Core, clock: Clock) -> None:
    sent = await _den(core, clock, old=3, fresh=2)
    fresh = ["fresh 0", "fresh 1"]
    messaging = core.messaging
    assert texts(await messaging.history("bob", "den")) == fresh
    assert texts(await messaging.history("bob", "den", after=0, newest=False)) == fresh
    # CHATHISTORY's reads bounded by time (BETWEEN, AFTER a timestamp): no earlier bound
    # reaches behind the retention
    long_ago = sent[0].sent_at - timedelta(days=1)
    assert texts(await messaging.history("bob", "den", since=long_ago, newest=False)) == fresh
    assert texts(await messaging.history("bob", "den", until=sent[-1].sent_at)) == ["fresh 0"]

    assert await messaging.unread_count("bob", "den") == 2
    page, cursor = await messaging.receive_from("bob", "den")
    assert texts(page) == fresh
    assert cursor == sent[-1].id
    assert await messaging.unread_count("bob", "den") == 0
    assert await messaging.receive("bob", "den") == []

    # alice never received: what she would is the same, whatever the log still holds
    assert await messaging.unread_count("alice", "den") == 2
    assert [m.id for m in await core.log.read("den")] == [m.id for m in sent]  # not purged


async def test_a_join_shows_no_expired_message_and_knows_it_reached_the_cursor(
    core: Core, clock: Clock
) -> None:
    """The join shows the newest 5 (room_rules). Expired messages before those it shows
    passed nothing over that the user could read: the session is caught up, and marks the
    room read when it stops (comeback.py). A message that may be shown still counts as
    passed over, expired ones before it or not."""
    await _den(core, clock, old=6, fresh=2)
    bob = await core.login("bob", room=None)
    _, caught_up = await core.membership.join_reading(bob, "den")
    assert bob.texts() == ["<alice> fresh 0", "<alice> fresh 1"]
    assert caught_up  # main: the first unread message (expired) came before those shown

    await core.user("carol")
    for name in ("alice", "carol"):
        await core.membership.become_member(name, "hall")
    for n in range(2):
        await core.messaging.send("alice", "hall", f"old {n}")
    clock.ahead += PAST_IT
    for n in range(6):  # the join shows the newest 5: "late 0" is passed over
        await core.messaging.send("alice", "hall", f"late {n}")
    carol = await core.login("carol", room=None)
    _, caught_up = await core.membership.join_reading(carol, "hall")
    assert carol.texts() == [f"<alice> late {n}" for n in range(1, 6)]
    assert not caught_up


async def test_expired_private_messages_are_in_no_inbox_read(core: Core, clock: Clock) -> None:
    for name in ("alice", "bob", "carol"):
        await core.user(name)
    messaging = core.messaging
    await messaging.send_private("alice", "bob", "old secret")
    await messaging.send_private("carol", "bob", "old news")
    clock.ahead += PAST_IT
    await messaging.send_private("alice", "bob", "fresh secret")

    assert texts(await messaging.private_history("bob")) == ["fresh secret"]
    assert texts(await messaging.private_history("alice")) == ["fresh secret"]
    assert texts(await messaging.private_history("carol")) == []
    # IRC's CHATHISTORY of a conversation, newest first or from the start
    assert texts(await messaging.conversation("bob", "alice")) == ["fresh secret"]
    assert texts(await messaging.conversation("bob", "alice", newest=False)) == ["fresh secret"]
    assert texts(await messaging.conversation("bob", "carol")) == []
