"""A node's copy of the mutes ends them by the store's clock, told from the node's own and
the offset last observed (attack57's noticed item: by the muting node's clock, a node 30 s
behind set mutes that ended 30 s early everywhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from torbit.core.models import Room
from torbit.core.mutes import Mutes, set_at
from torbit.errors import Forbidden

STORE = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # the store's clock
S = timedelta(seconds=1)


@pytest.mark.parametrize("skew", [-30 * S, 30 * S], ids=["behind", "ahead"])
def test_a_node_whose_clock_is_off_ends_a_mute_by_the_store_s_clock(skew: timedelta) -> None:
    local = STORE + skew  # this node's clock when the store's reads STORE
    mutes = Mutes()
    mutes.observed(STORE, local)
    assert mutes.store_time(local) == STORE
    # muted on another node for 1 minute at the store's STORE, its event applied here
    until = STORE + 60 * S
    mutes.set("hall", "bob", until, set_at(until, 1))
    room = Room("hall", created_at=local - 5 * S)  # made here 5 s before, on this clock
    with pytest.raises(Forbidden, match="for 1 more minute"):
        mutes.check(room, "bob", local + 45 * S)
    mutes.check(room, "bob", local + 60 * S)  # ended, whatever this node's clock says
    assert len(mutes) == 0


def test_a_mute_set_here_just_after_its_room_was_made_here_stands() -> None:
    """The room's time is this node's clock, the mute's the store's: compared through the
    offset, a mute set a moment after the room is the room's own."""
    local = STORE + 30 * S
    mutes = Mutes()
    mutes.observed(STORE, local)
    room = Room("hall", created_at=local)
    mutes.set("hall", "bob", STORE + 60 * S + S / 1000, STORE + S / 1000)
    assert mutes.until("hall", "bob", local, room.created_at) == STORE + 60 * S + S / 1000
