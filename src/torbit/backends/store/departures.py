"""`Store.note_departures` one move at a time, through the store's own `enter_room` and
`set_cursor`: always on Cassandra (each cursor's move is a lightweight transaction of its
own), and on SQL when the batch's one transaction fails on a user deleted meanwhile."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from torbit.core.models import Departure
from torbit.core.ports import Store
from torbit.errors import NotFound


async def one_by_one(store: Store, moves: Sequence[Departure]) -> None:
    """Each move on its own; a user deleted meanwhile is passed over."""
    for m in moves:
        if m.entered_at is not None:
            await store.enter_room(m.room_key, m.user_key, m.entered_at)
        if m.read_up_to is not None:
            with contextlib.suppress(NotFound):
                await store.set_cursor(m.user_key, m.room_key, m.read_up_to)
