"""The store's feed carries a room's deletion from a process that is not a node (`torbit room
del`) to every node, on every store (core/revocation.py `feed_event`): the event comes back
whole, and the revocations beside it are still revocations. On main the feed held
revocations only."""

from __future__ import annotations

from tests.contract.conftest import NOW, STORE_BACKENDS
from torbit.core.events import RoomDeleted, SessionsRevoked
from torbit.core.models import Revocation
from torbit.core.ports import Store
from torbit.core.revocation import as_event, feed_event

BACKENDS_UNDER_TEST = STORE_BACKENDS


async def test_a_room_deletion_travels_the_feed_beside_revocations(store: Store) -> None:
    start = await store.last_revocation()
    await store.add_revocation(Revocation("bob", "your password was changed", "c0ffee"), NOW)
    deleted = RoomDeleted("den", "Den", "", "#Den was deleted by the server's operator")
    await feed_event(store, deleted, NOW, "den")
    events = [as_event(r) for _, r in await store.revocations_after(start)]
    assert events == [
        SessionsRevoked("bob", "your password was changed", "c0ffee"),
        deleted,
    ]
