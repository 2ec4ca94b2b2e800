"""A ban mask set while a session's join is under way: the join checked the room's masks
before the mask existed, and the mask's own sweep (the members listening now) did not see
the session yet, so the join must ask again once it listens (and put out the member it
made). The interleaving is forced, as in test_join_races.py: the mask is set just before the
session starts listening."""

from __future__ import annotations

import pytest

from tests.core.conftest import Core
from tests.core.test_join_races import before_next
from torbit.core.banmasks import Visitor
from torbit.errors import Forbidden


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
