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


def test_a_read_back_keeps_the_store_s_unless_a_later_one_began_or_the_room_went() -> None:
    """A mute event's read of that mute from the store (mute58): the newest read's answer is
    kept; an older one landing after it, or one begun before the room or user was forgotten,
    is not (it may predate a write the newer saw)."""
    mutes = Mutes()
    mutes.set("hall", "bob", NOW + timedelta(minutes=10))  # carol's event, heard last
    older = mutes.reading("hall", "bob")
    newer = mutes.reading("hall", "bob")
    mutes.read(newer, "hall", "bob", [Mute("hall", "bob", LATER + timedelta(hours=10))], NOW)
    mutes.read(older, "hall", "bob", [Mute("hall", "bob", NOW + timedelta(minutes=10))], NOW)
    assert mutes.until("hall", "bob", NOW) == LATER + timedelta(hours=10)  # the store's
    lifted = mutes.reading("hall", "bob")
    mutes.read(lifted, "hall", "bob", [], NOW)  # an unmute written last
    assert mutes.until("hall", "bob", NOW) is None
    failed = mutes.reading("hall", "bob")
    mutes.set("hall", "bob", LATER)
    mutes.read(failed, "hall", "bob", None, NOW)  # the store down: the event's stands
    assert mutes.until("hall", "bob", NOW) == LATER

    for forget in (mutes.forget_room, mutes.forget_user):  # den deleted, or dave's account
        stale = mutes.reading("den", "dave")
        forget("den" if forget == mutes.forget_room else "dave")
        mutes.read(stale, "den", "dave", [Mute("den", "dave", LATER)], NOW)
        assert mutes.until("den", "dave", NOW) is None


def test_a_mute_is_backed_once_a_read_of_the_store_found_it() -> None:
    """unmute59: a mute an event set is not backed until its read back finds it in the store
    (or the load read it); a new event, a lift, its end or a forgotten room take that away."""
    mutes = Mutes()
    mutes.load([Mute("hall", "bob", LATER)], NOW)
    assert mutes.backed("hall", "bob")
    mutes.set("hall", "bob", LATER + timedelta(minutes=5))  # alice's new mute's event
    assert not mutes.backed("hall", "bob")
    ticket = mutes.reading("hall", "bob")
    mutes.read(ticket, "hall", "bob", [Mute("hall", "bob", LATER + timedelta(minutes=5))], NOW)
    assert mutes.backed("hall", "bob") and ticket.is_set()
    failed = mutes.reading("hall", "bob")
    mutes.read(failed, "hall", "bob", None, NOW)  # the store down: stays as it was
    assert mutes.backed("hall", "bob")
    mutes.set("hall", "bob", None)
    assert not mutes.backed("hall", "bob")
    mutes.set("den", "dave", LATER)
    mutes.read(mutes.reading("den", "dave"), "den", "dave", [Mute("den", "dave", LATER)], NOW)
    mutes.forget_room("den")
    mutes.set("den", "dave", LATER)  # the room made again, dave muted there by an event
    assert not mutes.backed("den", "dave")
    mutes.read(mutes.reading("den", "dave"), "den", "dave", [], NOW)  # an unmute written last
    assert not mutes.backed("den", "dave") and mutes.until("den", "dave", NOW) is None
