"""A node's load of the store's mutes at its start runs after it watches the node events
(attack57), so an event can change a mute while the load's read is under way: the read may
predate it, and must not undo it (a lift, a room or an account deleted) or be undone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from torbit.core.models import Mute
from torbit.core.mutes import Mutes

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=10)


def test_what_changed_while_the_load_read_is_not_undone_by_it() -> None:
    mutes = Mutes()
    mutes.loading()
    # applied from the log while the store is read; the read saw the store before them
    mutes.set("hall", "bob", None)  # bob's mute lifted
    mutes.forget_room("den")  # den deleted, its mutes with it
    mutes.forget_user("carol")  # carol's account deleted
    mutes.set("hall", "dave", NOW + timedelta(minutes=3))  # dave muted anew, for 3
    stale = [Mute("hall", "bob", LATER), Mute("den", "erin", LATER), Mute("hall", "carol", LATER)]
    mutes.load([*stale, Mute("hall", "dave", LATER), Mute("hall", "erin", LATER)], NOW)
    assert mutes.until("hall", "bob", NOW) is None
    assert mutes.until("den", "erin", NOW) is None
    assert mutes.until("hall", "carol", NOW) is None
    assert mutes.until("hall", "dave", NOW) == NOW + timedelta(minutes=3)
    assert mutes.until("hall", "erin", NOW) == LATER  # untouched: loaded

    # the load ended: later changes are just changes
    mutes.forget_room("hall")
    mutes.load([Mute("hall", "bob", LATER)], NOW)
    assert mutes.until("hall", "bob", NOW) == LATER
