"""Room names that differ from a room's only by separators at their ends (attack4, the
room-name skeleton rule). A user name must start and end with a letter or a digit (no
`alice.` beside `alice`, core/identity.py), but a room name had no such rule and its
skeleton kept the separators: beside `#lobby` anyone could create `#lobby.`, which reads as
`#lobby` at the end of a sentence ("come to #lobby."), and `#lobby_`, `#-lobby`. A room's
skeleton now leaves out the separators at its ends, so these read like `#lobby` and are
refused on every door with the one look-alike answer; a separator inside a name
(`#lob.by`) still makes another name."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import error_of, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, command, create_room, telnet
from torbit.app import App

ANSWER = "reads too much like an existing room"


@pytest.fixture
async def app(make_server: ServerFactory) -> App:
    app = await make_server(limits={"create_rate": 0, "join_rate": 0}, irc={"guests": True})
    async with api(app, "owner") as owner:
        await register(owner, "owner", "mallory")
        await create_room(owner, "hall")
    return app


@pytest.mark.parametrize("name", ["hall.", "hall_", "hall-", "_hall", ".hall", "-hall_", "HALL."])
async def test_http_refuses_a_name_with_separators_at_its_ends(app: App, name: str) -> None:
    async with api(app, "mallory") as m:
        r = await m.post("/api/v1/rooms", json={"name": name})
        assert ANSWER in error_of(r, 409, "conflict")


async def test_telnet_and_irc_refuse_them_too(app: App) -> None:
    mallory = await telnet(app, "mallory")
    line = await command(mallory, "/create hall.", r"^! |you are in #")
    assert ANSWER in line, line
    await mallory.close()
    guest = await RawIrc.connect(app)
    await guest.register("pest")
    guest.send("JOIN #_hall")
    line = await guest.expect("#_hall")
    assert " 479 " in line and ANSWER in line, line
    await guest.close()


async def test_a_separator_inside_a_name_still_makes_another_room(app: App) -> None:
    async with api(app, "mallory") as m:
        for name in ("hal.l", "hall2", "ha_ll"):
            r = await m.post("/api/v1/rooms", json={"name": name})
            assert r.status_code == 201, r.text
