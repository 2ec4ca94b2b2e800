"""A ban mask set while a session's join is under way: the join checked the room's masks
before the mask existed, and the mask's own sweep (the members listening now) did not see
the session yet, so the join must ask again once it listens (and put out the member it
made). The interleaving is forced, as in test_join_races.py: the mask is set just before the
session starts listening."""

from __future__ import annotations

import pytest

from tests.core.conftest import Core
from tests.core.test_join_races import before_next
from torbit.core.banmasks import EXCEPT, INVEX, MAX_BAN_MASKS, Visitor
from torbit.core.models import BanMask
from torbit.errors import Forbidden, ListFull, NotFound


async def test_a_mask_set_before_a_session_listens_keeps_it_out(core: Core) -> None:
    await core.user("owner")
    await core.user("bob")
    await core.moderation.create("owner", "hall")
    await core.login("owner", room="hall")
    bob = await core.login("bob", room=None)
    bob.visitor = Visitor("bob", "bob", "192.0.2.9")  # type: ignore[attr-defined]
    runs = before_next(
        core.subscriptions,
        "listen",
        lambda: core.moderation.ban_mask("owner", "hall", "*!*@192.0.2.*"),
    )
    with pytest.raises(Forbidden, match="banned"):
        await core.membership.join(bob, "hall")
    assert runs == [1]
    assert "bob" not in await core.store.list_members("hall")  # the join's membership too
    await core.messaging.send("owner", "hall", "no strangers")
    assert "<owner> no strangers" not in bob.lines
    assert core.subscriptions.online_count("hall") == 1


async def test_an_exception_lifted_before_a_session_listens_keeps_it_out(core: Core) -> None:
    """The same for a lifted ban exception: the join was let past the mask by it."""
    await core.user("owner")
    await core.user("bob")
    await core.moderation.create("owner", "hall")
    await core.login("owner", room="hall")
    await core.moderation.except_mask("owner", "hall", "bob!*@*")
    await core.moderation.ban_mask("owner", "hall", "*!*@192.0.2.*")
    bob = await core.login("bob", room=None)
    bob.visitor = Visitor("bob", "bob", "192.0.2.9")  # type: ignore[attr-defined]
    runs = before_next(
        core.subscriptions,
        "listen",
        lambda: core.moderation.unexcept_mask("owner", "hall", "bob!*@*"),
    )
    with pytest.raises(Forbidden, match="banned"):
        await core.membership.join(bob, "hall")
    assert runs == [1]
    assert "bob" not in await core.store.list_members("hall")
    assert core.subscriptions.online_count("hall") == 1


async def test_a_refused_mask_drops_the_nodes_copy_of_the_list(core: Core) -> None:
    """A store may take back a mask that other nodes read for a moment (Cassandra's adds
    racing for the last place: cassandra_rooms.add_ban_mask); a ListFull answer drops each
    node's copy of the room's masks (here this node's), so none keeps one the list lost."""
    await core.user("owner")
    room = await core.moderation.create("owner", "hall")
    for i in range(MAX_BAN_MASKS):
        entry = BanMask(f"n{i}!*@*", "owner", room.created_at)
        assert await core.store.add_ban_mask(room.key, entry, MAX_BAN_MASKS)
    masks = core.membership.ban_masks
    masks.drop(room.key)  # the masks went in past this node (it cached the new room's none)
    assert len((await masks.of(room)).masks) == MAX_BAN_MASKS  # its copy now
    seen = masks.generation
    with pytest.raises(ListFull):
        await core.moderation.ban_mask("owner", "hall", "x!*@*")
    assert masks.generation > seen


@pytest.mark.parametrize("kind", [EXCEPT, INVEX])
async def test_a_refused_exception_drops_the_nodes_copy_of_the_lists(core: Core, kind: str) -> None:
    """The same for the exception lists (+e, +I), which Cassandra now takes back past the
    limit as it does ban masks (cassandra_rooms.add_exception_mask)."""
    await core.user("owner")
    room = await core.moderation.create("owner", "hall")
    for i in range(MAX_BAN_MASKS):
        entry = BanMask(f"n{i}!*@*", "owner", room.created_at, kind)
        assert await core.store.add_exception_mask(room.key, entry, MAX_BAN_MASKS)
    masks = core.membership.ban_masks
    masks.drop(room.key)
    seen = masks.generation
    with pytest.raises(ListFull):
        await core.moderation.except_mask("owner", "hall", "x!*@*", kind)
    assert masks.generation > seen


@pytest.mark.parametrize("lifted", ["uninvex", "deleted_elsewhere"])
async def test_an_invite_exception_lifted_during_a_join_keeps_it_out(
    core: Core, lifted: str
) -> None:
    """A private room let the join in by an invite exception (+I) read before the lift: once
    the membership is written, the exceptions are read again (from the store: another
    node's lift reaches this node's copy later), and the join is taken back."""
    await core.user("owner")
    await core.user("bob")
    await core.moderation.create("owner", "den", private=True)
    await core.moderation.except_mask("owner", "den", "*!*@192.0.2.*", INVEX)
    visitor = Visitor("bob", "bob", "192.0.2.9")

    async def lift() -> None:
        if lifted == "uninvex":
            await core.moderation.unexcept_mask("owner", "den", "*!*@192.0.2.*", INVEX)
        else:  # straight in the shared store: this node's copy still has it
            assert await core.store.remove_exception_mask("den", INVEX, "*!*@192.0.2.*")

    runs = before_next(core.store, "add_member", lift)
    with pytest.raises(NotFound):
        await core.membership.become_member("bob", "den", visitor=visitor)
    assert runs == [1]
    assert await core.store.list_members("den") == ["owner"]
    with pytest.raises(NotFound):
        await core.membership.become_member("bob", "den", visitor=visitor)


async def test_an_invite_exception_still_there_after_the_join_keeps_its_member(
    core: Core,
) -> None:
    """The re-read takes back only a join whose exception went: one lifted after it keeps
    its member (as IRC's -I does), and an invitation made meanwhile counts as well."""
    await core.user("owner")
    await core.user("bob")
    await core.user("carol")
    await core.moderation.create("owner", "den", private=True)
    await core.moderation.except_mask("owner", "den", "*!*@192.0.2.*", INVEX)
    await core.membership.become_member("bob", "den", visitor=Visitor("bob", "bob", "192.0.2.9"))

    async def swap() -> None:  # the exception goes, but carol is invited by name
        await core.moderation.invite("owner", "den", "carol")
        await core.moderation.unexcept_mask("owner", "den", "*!*@192.0.2.*", INVEX)

    before_next(core.store, "add_member", swap)
    await core.membership.become_member(
        "carol", "den", visitor=Visitor("carol", "carol", "192.0.2.10")
    )
    assert await core.store.list_members("den") == ["bob", "carol", "owner"]
