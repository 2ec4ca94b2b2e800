"""Every state-changing action is bounded (issue 10, item 10): joins and leaves, join/leave
notices, invitations, ignores, topic changes and room creation each have a per-user token
bucket; `rooms_per_user` counts owned rooms too, so creating and leaving rooms cannot beat
it, not even with parallel requests; housekeeping removes rooms left with neither members nor
messages, and audit entries past their retention; room listings come a page at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.core.conftest import Core
from torbit.core.joinchecks import RoomRules
from torbit.core.limits import ActionLimits, RateLimiter
from torbit.core.models import AuditEntry
from torbit.core.retention import Retention
from torbit.core.roomsettings import SettingsChange
from torbit.errors import BadKey, Forbidden, RateLimited

BURST = 3


def bucket() -> RateLimiter:
    """BURST actions at once, then (practically) none for the rest of the test."""
    return RateLimiter(0.0001, BURST)


@pytest.fixture
def action_limits() -> ActionLimits:
    return ActionLimits(
        joins=bucket(),
        presence=bucket(),
        invites=bucket(),
        ignores=bucket(),
        topics=bucket(),
        creates=bucket(),
    )


@pytest.fixture
def room_rules() -> RoomRules:
    return RoomRules(history_on_join=0, rooms_per_user=5)


async def test_joining_new_rooms_and_leaving_share_one_bucket(core: Core) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    alice = await core.login("alice", room=None)
    await core.login("bob", room=None)
    for room in ("a", "b"):
        await core.moderation.create("bob", room)
    await core.membership.join(alice, "a")
    await core.membership.join(alice, "b")
    await core.membership.leave("alice", "b")
    with pytest.raises(RateLimited, match="too many rooms joined or left"):
        await core.membership.join(alice, "b")
    with pytest.raises(RateLimited):
        await core.membership.leave("alice", "a")
    # listening again to a room one belongs to changes no membership: not counted
    await core.membership.stop_listening(alice, "a")
    await core.membership.join(alice, "a")
    assert await core.store.rooms_of("alice") == ["a"]


async def test_past_the_presence_bucket_comings_and_goings_are_not_announced(
    core: Core,
) -> None:
    for name in ("alice", "bob"):
        await core.user(name)
    alice = await core.login("alice")
    bob = await core.login("bob")  # announced: 1
    for _ in range(10):
        await core.membership.stop_listening(bob, "lobby")
        await core.membership.join(bob, "lobby")
    core.subscriptions.notify("lobby", "marker")
    about_bob = [line for line in alice.lines if "bob" in line]
    assert about_bob == ["* bob joined #lobby", "* bob left #lobby", "* bob joined #lobby"]
    assert core.subscriptions.is_listening(bob, "lobby")  # the joins themselves went through


async def test_invitations_ignores_and_topic_changes_are_limited(core: Core) -> None:
    for name in ("alice", "bob", "carol", "dave", "erin", "frank"):
        await core.user(name)
    await core.moderation.create("alice", "den", private=True)
    for name in ("bob", "carol", "dave"):
        await core.moderation.invite("alice", "den", name)
    with pytest.raises(RateLimited, match="invitations"):
        await core.moderation.invite("alice", "den", "erin")
    assert await core.store.invited_rooms("erin") == []

    await core.ignores.ignore("bob", "alice")
    await core.ignores.unignore("bob", "alice")
    await core.ignores.ignore("bob", "alice")
    with pytest.raises(RateLimited, match="ignore"):
        await core.ignores.unignore("bob", "alice")
    assert await core.ignores.ignored("bob") == ["alice"]

    for i in range(BURST):
        await core.moderation.update("alice", "den", topic=f"topic {i}")
    with pytest.raises(RateLimited, match="topic"):
        await core.moderation.update("alice", "den", topic="one too many")
    room = await core.membership.room("den")
    assert room.topic == f"topic {BURST - 1}"
    topics = [e for e in await core.store.list_audit("den") if e.action == "topic"]
    assert len(topics) == BURST


async def test_room_creation_is_limited_on_every_path(core: Core) -> None:
    await core.user("alice")
    alice = await core.login("alice", room=None)
    await core.moderation.create("alice", "one")
    await core.membership.join(alice, "two")  # a new name: created by joining
    await core.membership.become_member("alice", "three")
    with pytest.raises(RateLimited, match="rooms created"):
        await core.moderation.create("alice", "four")
    with pytest.raises(RateLimited, match="rooms created"):
        await core.membership.become_member("alice", "five")
    assert sorted(await core.store.owned_rooms("alice")) == ["one", "three", "two"]


class TestRoomsPerUser:
    @pytest.fixture
    def action_limits(self) -> ActionLimits:
        return ActionLimits()  # only rooms_per_user

    async def test_creating_and_leaving_rooms_cannot_beat_rooms_per_user(self, core: Core) -> None:
        await core.user("alice")
        made = 0
        with pytest.raises(Forbidden, match="too many rooms"):
            for i in range(50):
                await core.moderation.create("alice", f"room{i}")
                await core.membership.leave("alice", f"room{i}")
                made += 1
        assert made == 5
        assert await core.store.rooms_of("alice") == []
        assert len(await core.store.owned_rooms("alice")) == 5

    async def test_parallel_creations_of_one_user_all_meet_the_limit(self, core: Core) -> None:
        await core.user("alice")
        results = await asyncio.gather(
            *(core.moderation.create("alice", f"room{i}") for i in range(30)),
            *(core.membership.become_member("alice", f"joined{i}") for i in range(30)),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 5
        assert all(isinstance(r, Forbidden) for r in results if isinstance(r, BaseException))
        owned = await core.store.owned_rooms("alice")
        assert len(owned) == 5 and sorted(await core.store.rooms_of("alice")) == sorted(owned)

    async def test_empty_rooms_go_after_their_grace_and_nothing_else_does(self, core: Core) -> None:
        for name in ("alice", "bob"):
            await core.user(name)
        for room in ("left", "talked", "kept", "lobby"):
            await core.membership.become_member("alice", room)
        await core.messaging.send("alice", "talked", "something worth keeping")
        for room in ("left", "talked", "lobby"):
            await core.membership.leave("alice", room)
        later = datetime.now(UTC) + timedelta(hours=2)
        retention = Retention(
            core.store,
            core.log,
            timedelta(days=365),
            audit_keep=timedelta(days=30),
            empty_room_grace=timedelta(hours=1),
            keep_rooms=frozenset({"lobby"}),
            now=lambda: later,
        )
        soon = Retention(
            core.store,
            core.log,
            timedelta(days=365),
            empty_room_grace=timedelta(hours=3),
            now=lambda: later,
        )
        assert (await soon.purge_expired()).rooms == 0  # within the grace period
        purged = await retention.purge_expired()
        assert purged.rooms == 1
        assert await core.store.get_room("left") is None
        for room in ("talked", "kept", "lobby"):
            assert await core.store.get_room(room) is not None
        # the name is free again, and the owner's count went down with it
        await core.membership.become_member("bob", "left")
        assert await core.store.owned_rooms("alice") == ["kept", "talked"]

    async def test_audit_entries_are_kept_for_their_retention(self, core: Core) -> None:
        now = datetime.now(UTC)
        for days in (40, 31, 29, 1):
            await core.store.add_audit(
                AuditEntry(at=now - timedelta(days=days), actor="alice", action="topic")
            )
        retention = Retention(
            core.store, core.log, timedelta(days=1), audit_keep=timedelta(days=30), now=lambda: now
        )
        assert (await retention.purge_expired()).audit_entries == 2
        assert len(await core.store.list_audit()) == 2
        forever = Retention(core.store, core.log, timedelta(days=1), now=lambda: now)
        assert (await forever.purge_expired()).audit_entries == 0


class TestRoomListings:
    @pytest.fixture
    def action_limits(self) -> ActionLimits:
        return ActionLimits()

    @pytest.fixture
    def room_rules(self) -> RoomRules:
        return RoomRules(history_on_join=0)

    async def test_rooms_come_a_page_at_a_time_without_hidden_ones(self, core: Core) -> None:
        for name in ("alice", "bob"):
            await core.user(name)
        for i in range(25):
            await core.moderation.create("bob", f"pub{i:02}")
        for i in range(40):  # a long run of rooms alice may not see
            await core.moderation.create("bob", f"priv{i:02}", private=True)
        await core.moderation.invite("bob", "priv07", "alice")
        seen: list[str] = []
        after = None
        pages = 0
        while True:
            page = await core.membership.rooms("alice", after=after, limit=10)
            assert len(page.rooms) <= 10
            seen += [i.room.name for i in page.rooms]
            pages += 1
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == ["priv07"] + [f"pub{i:02}" for i in range(25)]
        assert pages <= 5
        everything = await core.membership.rooms("bob", limit=1000)
        assert len(everything.rooms) == 65 and everything.next_after is None


async def test_guessing_a_join_key_is_bounded_by_the_join_limit(core: Core) -> None:
    for name in ("alice", "mallory"):
        await core.user(name)
    await core.moderation.create("alice", "vault")
    await core.moderation.configure("alice", "vault", SettingsChange(join_key="s3cret"))
    for guess in range(BURST):
        with pytest.raises(BadKey):
            await core.membership.become_member("mallory", "vault", f"guess{guess}")
    with pytest.raises(RateLimited):  # even the right key waits now
        await core.membership.become_member("mallory", "vault", "s3cret")
