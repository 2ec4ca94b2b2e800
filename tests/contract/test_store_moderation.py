"""The Store contract for rooms with owners (torbit.core.ports.Store, room moderation part):
creating and changing rooms, standing, room admins, expulsions and bans, mutes, invitations
and the audit log, run against every store (SQLite, PostgreSQL, Cassandra)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.conftest import NOW, STORE_BACKENDS
from tests.contract.test_store import room, user, users
from torbit.core.models import (
    AuditEntry,
    BanMask,
    Invitation,
    Mute,
    Role,
    Room,
    RoomSettings,
    Standing,
)
from torbit.core.ports import Store
from torbit.errors import Conflict, ListFull, NotFound

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def test_create_room_conflicts_whatever_the_case(store: Store) -> None:
    made = await store.create_room(room("Den", owner="alice", private=True))
    assert await store.get_room("den") == made
    with pytest.raises(Conflict):
        await store.create_room(room("DEN"))
    results = await asyncio.gather(
        *(store.create_room(room("Hall" if i % 2 else "hall")) for i in range(6)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))


async def test_update_room_changes_only_what_is_given(store: Store) -> None:
    await store.create_room(room("den", owner="alice", topic="old"))
    changed = await store.update_room("den", topic="new")
    assert changed == room("den", owner="alice", topic="new")
    changed = await store.update_room("den", private=True)
    assert changed == room("den", owner="alice", topic="new", private=True)
    assert await store.update_room("den") == changed
    assert await store.update_room("nowhere", topic="x") is None


async def test_a_topic_is_kept_with_who_set_it_and_when(store: Store) -> None:
    """The setter and time are stored with the topic and read back every way a room is read
    (get, ensure, update, listing, with a standing); clearing the topic clears both, and a
    change of anything else keeps them (on main: update_room took no setter)."""
    await users(store, "alice")
    made = await store.create_room(room("den", owner="alice"))
    assert (made.topic_set_by, made.topic_set_at) == ("", None)
    at = NOW + timedelta(seconds=5, microseconds=7)
    changed = await store.update_room("den", topic="rules", topic_by="Alice", topic_at=at)
    assert changed == replace(made, topic="rules", topic_set_by="Alice", topic_set_at=at)
    assert changed.topic_set_at is not None and changed.topic_set_at.tzinfo is not None
    assert await store.get_room("den") == changed
    assert await store.ensure_room(room("den")) == changed
    assert await store.room_and_standing("den", "alice") == (changed, Standing())
    listed = [r for r, _ in await store.list_rooms(after=None, limit=10) if r.key == "den"]
    assert listed == [changed]
    assert [r for r, _ in await store.rooms_with_counts(["den"])] == [changed]
    private = await store.update_room("den", private=True, settings=RoomSettings(moderated=True))
    assert private is not None and (private.topic_set_by, private.topic_set_at) == ("Alice", at)
    cleared = await store.update_room("den", topic="", topic_by="Alice", topic_at=at)
    assert cleared is not None and (cleared.topic, cleared.topic_set_by) == ("", "")
    assert cleared.topic_set_at is None and await store.get_room("den") == cleared
    given = replace(room("hall"), topic="hi", topic_set_by="bob", topic_set_at=at)
    assert await store.create_room(given) == given == await store.get_room("hall")


async def test_room_settings_round_trip(store: Store) -> None:
    """Settings are stored with the room, replaced as a whole, and read back by every way a
    room is read (get, ensure, update, listing)."""
    made = await store.create_room(room("den", owner="alice"))
    assert made.settings == RoomSettings()
    assert (await store.get_room("den")) == made
    wanted = RoomSettings(
        join_key="s3cr3t!", member_limit=7, topic_lock=False, no_external=False, moderated=True
    )
    changed = await store.update_room("den", settings=wanted)
    assert changed is not None and changed.settings == wanted and changed.topic == ""
    assert (await store.get_room("den")) == changed
    assert (await store.ensure_room(room("den"))) == changed
    listed = [r for r, _ in await store.list_rooms(after=None, limit=10) if r.key == "den"]
    assert listed == [changed]
    both = await store.update_room("den", topic="t", private=True, settings=RoomSettings())
    assert both is not None and both.settings == RoomSettings() and both.private
    assert (await store.get_room("den")) == both
    keyed = replace(room("hall"), settings=RoomSettings(join_key="k", member_limit=2))
    assert (await store.create_room(keyed)) == keyed == await store.get_room("hall")
    assert await store.update_room("nowhere", settings=wanted) is None


async def test_standing_in_one_round_trip(store: Store) -> None:
    await users(store, "alice", "bob", "carol")
    await store.set_admin("carol", True)
    den = await store.create_room(room("den", owner="alice", private=True))
    assert await store.standing("den", "bob") == Standing()
    assert await store.standing("den", "ghost") == Standing()
    assert await store.standing("nowhere", "bob") == Standing()
    await store.add_member("den", "bob")
    assert await store.set_room_admin("den", "bob", True)
    assert not await store.set_room_admin("den", "bob", True)
    bob = await store.standing("den", "bob")
    assert bob == Standing(member=True, admin=True)
    assert bob.role(den, "bob") is Role.ADMIN
    assert (await store.standing("den", "alice")).role(den, "alice") is Role.OWNER
    carol = await store.standing("den", "carol")
    assert carol == Standing(server_admin=True)
    assert carol.role(den, "carol") is Role.SERVER_ADMIN and carol.may_see(den, "carol")
    assert not (await store.standing("den", "ghost")).may_see(den, "ghost")
    assert await store.set_room_admin("den", "bob", False)
    assert not await store.set_room_admin("den", "bob", False)
    with pytest.raises(NotFound):
        await store.set_room_admin("den", "ghost", True)


async def test_room_and_standing_are_the_room_and_its_standing_in_one_round_trip(
    store: Store,
) -> None:
    await users(store, "alice", "bob", "carol")
    await store.set_admin("carol", True)
    den = await store.create_room(
        replace(room("den", owner="alice", private=True), topic="t", settings=RoomSettings())
    )
    assert await store.room_and_standing("nowhere", "bob") == (None, Standing())
    assert await store.room_and_standing("nowhere", "carol") == (None, Standing())
    assert await store.room_and_standing("den", "bob") == (den, Standing())
    assert await store.room_and_standing("den", "ghost") == (den, Standing())
    await store.add_member("den", "bob")
    await store.set_room_admin("den", "bob", True)
    await store.add_invite("den", "carol", NOW)
    for name in ("alice", "bob", "carol", "ghost"):
        got = await store.room_and_standing("den", name)
        assert got == (await store.get_room("den"), await store.standing("den", name)), name
    assert (await store.room_and_standing("den", "bob"))[1] == Standing(member=True, admin=True)
    assert (await store.room_and_standing("den", "carol"))[1] == Standing(
        invited=True, server_admin=True
    )
    await store.expel("den", "bob", banned_at=NOW)
    assert (await store.room_and_standing("den", "bob"))[1].banned


async def test_expel_ends_membership_admin_rights_and_invitation(store: Store) -> None:
    await users(store, "alice", "bob", "carol")
    await store.create_room(room("den"))
    await store.add_member("den", "bob")
    await store.set_room_admin("den", "bob", True)
    assert await store.expel("den", "bob")
    assert await store.standing("den", "bob") == Standing()
    assert await store.list_members("den") == []
    assert not await store.expel("den", "bob")  # not a member any more

    assert await store.add_invite("den", "carol", NOW)
    assert not await store.expel("den", "carol", banned_at=NOW)  # a ban of a non-member
    assert await store.standing("den", "carol") == Standing(banned=True)
    await store.expel("den", "carol", banned_at=NOW)  # banning again changes nothing
    assert await store.unban("den", "carol")
    assert not await store.unban("den", "carol")
    with pytest.raises(NotFound):
        await store.expel("den", "ghost", banned_at=NOW)


async def test_leaving_ends_membership_with_admin_rights(store: Store) -> None:
    """A member who leaves (remove_member) loses room admin rights with the membership, as on
    a kick: joining again makes them a plain member. An invitation and a ban are not the
    membership's and stay; the owner stays the owner (rooms.owner is the room's)."""
    await users(store, "alice", "bob", "carol")
    await store.create_room(room("den", owner="alice"))
    for name in ("alice", "bob"):
        await store.add_member("den", name)
    await store.set_room_admin("den", "bob", True)
    await store.add_invite("den", "carol", NOW)
    assert await store.list_room_admins("den") == ["bob"]
    assert await store.remove_member("den", "bob")
    assert await store.standing("den", "bob") == Standing()
    assert await store.list_room_admins("den") == []
    assert not await store.remove_member("den", "bob")  # not a member any more
    assert await store.add_member("den", "bob")
    assert await store.standing("den", "bob") == Standing(member=True)
    assert await store.remove_member("den", "alice")
    den = await store.get_room("den")
    assert den is not None and den.owner == "alice"
    assert not await store.remove_member("den", "carol")
    assert await store.standing("den", "carol") == Standing(invited=True)


async def test_mutes_until_a_time(store: Store) -> None:
    await users(store, "alice", "bob")
    await store.create_room(room("den"))
    await store.create_room(room("hall"))
    await store.set_mute("den", "bob", NOW + timedelta(minutes=5))
    await store.set_mute("hall", "alice", NOW - timedelta(minutes=1))  # already over
    assert await store.active_mutes(NOW) == [Mute("den", "bob", NOW + timedelta(minutes=5))]
    await store.set_mute("den", "bob", NOW + timedelta(minutes=9))  # replaces
    assert await store.active_mutes(NOW) == [Mute("den", "bob", NOW + timedelta(minutes=9))]
    assert await store.active_mutes(NOW + timedelta(minutes=10)) == []
    assert not await store.remove_mute("hall", "alice", NOW)  # expired: was not muted
    assert await store.remove_mute("den", "bob", NOW)
    assert not await store.remove_mute("den", "bob", NOW)
    assert await store.active_mutes(NOW) == []
    with pytest.raises(NotFound):
        await store.set_mute("den", "ghost", NOW)


async def test_one_mute_read_by_its_room_and_user(store: Store) -> None:
    """A node applying a mute event reads that one mute back (core/mutes.py): the store's,
    whatever order the writes and events of mutes at once came in (mute58)."""
    await users(store, "alice", "bob")
    await store.create_room(room("den"))
    await store.create_room(room("hall"))
    await store.set_mute("den", "bob", NOW + timedelta(minutes=5))
    await store.set_mute("den", "alice", NOW + timedelta(minutes=7))
    await store.set_mute("hall", "bob", NOW + timedelta(minutes=8))
    await store.set_mute("hall", "alice", NOW - timedelta(minutes=1))  # already over
    await store.set_mute("den", "bob", NOW + timedelta(minutes=600))  # replaces
    assert await store.active_mutes(NOW, ("den", "bob")) == [
        Mute("den", "bob", NOW + timedelta(minutes=600))
    ]
    assert await store.active_mutes(NOW, ("hall", "bob")) == [
        Mute("hall", "bob", NOW + timedelta(minutes=8))
    ]
    assert await store.active_mutes(NOW, ("hall", "alice")) == []
    assert await store.active_mutes(NOW, ("lobby", "bob")) == []
    assert await store.remove_mute("den", "bob", NOW)
    assert await store.active_mutes(NOW, ("den", "bob")) == []
    assert len(await store.active_mutes(NOW)) == 2


async def test_invitations(store: Store) -> None:
    await users(store, "alice", "bob")
    for name in ("den", "attic"):
        await store.create_room(room(name, private=True))
    assert await store.add_invite("den", "bob", NOW)
    assert not await store.add_invite("den", "bob", NOW)
    assert await store.add_invite("attic", "bob", NOW)
    assert await store.invited_rooms("bob") == ["attic", "den"]
    assert (await store.standing("den", "bob")).invited
    assert await store.remove_invite("den", "bob")
    assert not await store.remove_invite("den", "bob")
    assert await store.invited_rooms("bob") == ["attic"]
    assert await store.invited_rooms("alice") == []
    with pytest.raises(NotFound):
        await store.add_invite("nowhere", "bob", NOW)


async def test_invitations_keep_their_inviter_and_time_newest_first(store: Store) -> None:
    """The bound and the ignore filter (core/invitations.py) read who sent each invitation
    and when: newest first, ties by room; a repeat keeps the first; a removal, a join or an
    expulsion takes the inviter with it, so a new invitation names the new one."""
    await users(store, "alice", "bob", "carol")
    for name in ("den", "attic", "zoo", "cellar"):
        await store.create_room(room(name, private=True))
    later = NOW + timedelta(seconds=1)
    assert await store.add_invite("zoo", "bob", NOW, "Alice")
    assert await store.add_invite("attic", "bob", later, "carol")
    assert await store.add_invite("den", "bob", later, "Alice")
    assert await store.add_invite("cellar", "bob", NOW)  # an unknown inviter
    assert not await store.add_invite("zoo", "bob", later, "carol")  # keeps the first
    assert await store.invitations("bob") == [
        Invitation("attic", later, "carol"),
        Invitation("den", later, "Alice"),
        Invitation("cellar", NOW, ""),
        Invitation("zoo", NOW, "Alice"),
    ]
    assert await store.invitations("alice") == []
    assert await store.remove_invite("zoo", "bob")
    assert await store.add_invite("zoo", "bob", later, "carol")
    await store.expel("attic", "bob")
    assert await store.add_invite("attic", "bob", later)
    assert [(i.room_key, i.by) for i in await store.invitations("bob")] == [
        ("attic", ""),
        ("den", "Alice"),
        ("zoo", "carol"),
        ("cellar", ""),
    ]


async def test_audit_log_newest_first_per_room(store: Store) -> None:
    entries = [
        AuditEntry(at=NOW, actor="Alice", action="create", room="den", detail="private"),
        AuditEntry(
            at=NOW + timedelta(seconds=1), actor="Alice", action="kick", room="den", target="bob"
        ),
        AuditEntry(
            at=NOW + timedelta(seconds=2), actor="carol", action="ban", room="hall", target="bob"
        ),
    ]
    stored = [await store.add_audit(e) for e in entries]
    ids = [s.id for s in stored if s.id is not None]
    assert len(ids) == len(stored)  # every entry got an id
    assert ids == sorted(set(ids))  # ids increase
    assert await store.list_audit() == stored[::-1]
    assert await store.list_audit("den") == stored[1::-1]
    assert await store.list_audit("den", limit=1) == [stored[1]]
    assert await store.list_audit("nowhere") == []


async def test_deleting_a_user_takes_their_room_rows_but_not_the_audit(store: Store) -> None:
    await users(store, "alice", "bob")
    for name in ("den", "hall", "attic", "cellar"):
        await store.create_room(room(name))
    await store.create_room(room("bobs", owner="Bob"))
    await store.create_room(room("bobs-own", owner="Bob"))
    await store.add_member("bobs", "alice")
    await store.add_member("bobs-own", "bob")
    await store.set_room_admin("bobs-own", "bob", True)
    await store.add_member("den", "bob")
    await store.set_room_admin("den", "bob", True)
    await store.expel("hall", "bob", banned_at=NOW)
    await store.set_mute("attic", "bob", NOW + timedelta(hours=1))
    await store.add_invite("cellar", "bob", NOW)
    await store.add_audit(
        AuditEntry(at=NOW, actor="alice", action="ban", room="hall", target="bob")
    )
    deletion = await store.delete_user("bob")
    assert deletion is not None
    assert (deletion.rooms_deleted, deletion.rooms_kept) == (("bobs-own",), ("bobs",))
    for name in ("den", "hall", "attic", "cellar"):
        assert await store.standing(name, "bob") == Standing()
    assert await store.active_mutes(NOW) == []
    assert await store.invited_rooms("bob") == []
    assert [e.target for e in await store.list_audit()] == ["bob"]
    bobs = await store.get_room("bobs")
    assert bobs is not None and bobs.owner is None  # alice is in it: it stays, server-owned
    assert await store.get_room("bobs-own") is None  # no one else was: it went with bob
    assert await store.list_members("bobs") == ["alice"]
    await store.create_user(user("bob"))  # the name is free, and starts with a clean slate
    assert await store.standing("hall", "bob") == Standing()


async def test_admins_and_bans_are_listed_and_a_room_deleted_with_its_rows(
    store: Store,
) -> None:
    await users(store, "alice", "Bob", "carol")
    await store.create_room(room("den", owner="alice"))
    await store.add_member("den", "bob")
    await store.set_room_admin("den", "bob", True)
    await store.expel("den", "carol", banned_at=NOW)
    await store.add_invite("den", "alice", NOW)
    await store.set_mute("den", "bob", NOW + timedelta(minutes=5))
    await store.set_cursor("bob", "den", 7)
    assert await store.list_room_admins("den") == ["bob"]
    assert await store.list_bans("den") == ["carol"]
    assert await store.list_room_admins("nowhere") == [] == await store.list_bans("nowhere")
    assert await store.delete_room("den")
    assert not await store.delete_room("den")
    assert await store.get_room("den") is None
    assert await store.standing("den", "bob") == Standing()
    assert await store.rooms_of("bob") == [] and await store.invited_rooms("alice") == []
    assert await store.get_cursor("bob", "den") is None
    assert await store.active_mutes(NOW) == []
    assert await store.get_user("bob") is not None  # users stay


async def test_a_room_is_deleted_by_the_identity_the_caller_saw(store: Store) -> None:
    """Two deletions racing a creation: the late one, holding the room it checked, must not
    delete the room made again under the name since (on main it went by name and did)."""
    await users(store, "alice", "bob")
    old = await store.create_room(room("den", owner="alice"))
    assert await store.delete_room("den", old.created_at)
    new = await store.create_room(Room("den", NOW + timedelta(seconds=1), owner="bob"))
    await store.add_member("den", "bob")
    await store.set_room_admin("den", "bob", True)
    assert not await store.delete_room("den", old.created_at)  # the stale one
    assert await store.get_room("den") == new
    assert await store.rooms_of("bob") == ["den"]
    assert await store.list_room_admins("den") == ["bob"]
    assert await store.delete_room("den", new.created_at)
    assert await store.get_room("den") is None


async def test_a_voice_is_the_memberships_and_ends_with_it(store: Store) -> None:
    """Only a member is voiced; the voice shows in `standing` (both ways it is read) and in
    `list_voiced`, and leaving, a kick or a ban ends it: joining again gives no voice back."""
    await users(store, "alice", "bob", "carol")
    den = await store.create_room(room("den", owner="alice"))
    assert not await store.set_voice("den", "bob", True)  # not a member
    assert await store.standing("den", "bob") == Standing()
    await store.add_member("den", "bob")
    assert await store.set_voice("den", "bob", True)
    assert not await store.set_voice("den", "bob", True)
    assert await store.standing("den", "bob") == Standing(member=True, voiced=True)
    assert await store.room_and_standing("den", "bob") == (den, Standing(member=True, voiced=True))
    assert await store.list_voiced("den") == ["bob"]
    assert await store.set_voice("den", "bob", False)
    assert not await store.set_voice("den", "bob", False)
    assert await store.list_voiced("den") == []
    for end in ("leave", "kick", "ban"):
        await store.add_member("den", "carol")
        assert await store.set_voice("den", "carol", True)
        if end == "leave":
            assert await store.remove_member("den", "carol")
        else:
            assert await store.expel("den", "carol", banned_at=NOW if end == "ban" else None)
            await store.unban("den", "carol")
        assert await store.list_voiced("den") == [], end
        await store.add_member("den", "carol")
        assert await store.standing("den", "carol") == Standing(member=True), end
        await store.remove_member("den", "carol")


async def test_ban_masks_are_listed_bounded_and_go_with_the_room(store: Store) -> None:
    """A room's ban masks: added once, listed by mask with who set them and when, at most
    `limit` of them (adding one already there is no change, not "full"), lifted one by one,
    and deleted with the room; an unknown room is NotFound."""
    await users(store, "alice")
    await store.create_room(room("den", owner="alice"))
    later = NOW + timedelta(minutes=1)
    assert await store.add_ban_mask("den", BanMask("b*!*@*", "alice", NOW), limit=2)
    assert not await store.add_ban_mask("den", BanMask("b*!*@*", "bob", later), limit=2)
    assert await store.add_ban_mask("den", BanMask("*!*@10.0.0.*", "Alice", later), limit=2)
    assert await store.list_ban_masks("den") == [
        BanMask("*!*@10.0.0.*", "Alice", later),
        BanMask("b*!*@*", "alice", NOW),
    ]
    with pytest.raises(ListFull):
        await store.add_ban_mask("den", BanMask("c!*@*", "alice", NOW), limit=2)
    assert not await store.add_ban_mask("den", BanMask("b*!*@*", "alice", NOW), limit=2)
    assert await store.list_ban_masks("hall") == [] and await store.list_bans("den") == []
    with pytest.raises(NotFound):
        await store.add_ban_mask("hall", BanMask("c!*@*", "alice", NOW), limit=2)
    assert await store.remove_ban_mask("den", "b*!*@*")
    assert not await store.remove_ban_mask("den", "b*!*@*")
    assert await store.list_ban_masks("den") == [BanMask("*!*@10.0.0.*", "Alice", later)]
    assert await store.delete_room("den")
    await store.create_room(room("den", owner="alice"))
    assert await store.list_ban_masks("den") == []


async def test_exception_masks_are_kept_by_kind_bounded_and_go_with_the_room(
    store: Store,
) -> None:
    """A room's exception masks: listed by kind then mask, with who set them and when, at
    most `limit` of each kind (another kind, and the ban masks, count apart), lifted one by
    one, and deleted with the room; an unknown room is NotFound."""
    await users(store, "alice")
    await store.create_room(room("den", owner="alice"))
    later = NOW + timedelta(minutes=1)
    mine = BanMask("alice!*@*", "alice", NOW, "e")
    assert await store.add_exception_mask("den", mine, limit=2)
    assert not await store.add_exception_mask("den", replace(mine, set_by="bob"), limit=2)
    assert await store.add_exception_mask("den", BanMask("*!*@10.*", "Alice", later, "e"), 2)
    other_kind = BanMask("alice!*@*", "alice", later, "z")  # the same mask on another list
    assert await store.add_exception_mask("den", other_kind, limit=2)
    assert await store.list_exception_masks("den") == [
        BanMask("*!*@10.*", "Alice", later, "e"),
        mine,
        other_kind,
    ]
    with pytest.raises(ListFull):
        await store.add_exception_mask("den", BanMask("c!*@*", "alice", NOW, "e"), limit=2)
    assert not await store.add_exception_mask("den", mine, limit=2)  # there: no change
    assert await store.add_ban_mask("den", BanMask("c!*@*", "alice", NOW), limit=2)
    assert await store.list_exception_masks("hall") == []
    with pytest.raises(NotFound):
        await store.add_exception_mask("hall", mine, limit=2)
    assert await store.remove_exception_mask("den", "e", "alice!*@*")
    assert not await store.remove_exception_mask("den", "e", "alice!*@*")
    assert await store.list_exception_masks("den") == [
        BanMask("*!*@10.*", "Alice", later, "e"),
        other_kind,
    ]
    assert await store.delete_room("den")
    await store.create_room(room("den", owner="alice"))
    assert await store.list_exception_masks("den") == []
