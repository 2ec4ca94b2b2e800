"""A guest's rooms are charged to `limits.create_rate` as an account's are. A room made by a
guest's `JOIN` has no owner, and rooms without an owner skipped the rate: one guest could
make rooms as fast as its joins allowed (on a scale-out deployment each a Kafka topic, kept
after the room is gone), twenty guests a minute from one address each doing so."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.security.test_guest_flood import guest_from

BURST = 3


async def test_a_guests_new_rooms_are_charged(make_server: ServerFactory) -> None:
    app = await make_server(
        irc={"guests": True},
        limits={"create_rate": 0.0001, "create_burst": BURST, "join_burst": 100},
    )
    assert app.core is not None
    guest = await guest_from(app, "gus", "127.0.0.1")
    await guest.expect(" 376 ")
    for i in range(BURST):
        guest.send(f"JOIN #made{i}")
        await guest.expect(f"JOIN #made{i}")
    guest.send("JOIN #onetoomany")
    refused = await guest.expect("#onetoomany")
    assert "rooms created" in refused and " JOIN " not in refused, refused
    assert await app.core.store.get_room("onetoomany") is None
    await guest.close()
