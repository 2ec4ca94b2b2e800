"""A guest banned from a room renames (attack4, guests: name changes). A guest's NICK moves
its memberships, admin rights, invitations and mutes to the new name, but not its bans: a
guest kicked and banned from #hall (`PUT .../bans/pest`, IRC `MODE +b pest`) sent `NICK
pest2` and joined #hall again at once, while a mute would have followed it. Bans now move
with the rest; the old name's are lifted with the old account, as before."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, create_room


async def test_a_banned_guest_stays_banned_under_a_new_nick(make_server: ServerFactory) -> None:
    app = await make_server(irc={"guests": True})
    async with api(app, "alice") as a:
        await register(a, "alice")
        await create_room(a, "hall")
        await create_room(a, "den")
    pest = await RawIrc.connect(app)
    await pest.register("pest")
    pest.send("JOIN #hall")
    await pest.expect(" 366 pest #hall ")
    async with api(app, "alice") as a:
        assert (await a.put("/api/v1/rooms/hall/bans/pest")).status_code == 204
    await pest.expect(" KICK #hall pest ")
    pest.send("NICK pest2")
    await pest.expect(" NICK ")
    pest.send("JOIN #hall")
    line = await pest.expect("#hall")
    assert " 474 pest2 #hall " in line, line
    pest.send("JOIN #den")  # a room it is not banned from
    await pest.expect(" 366 pest2 #den ")
    async with api(app, "alice") as a:
        r = await a.get("/api/v1/rooms/hall/bans")
        assert "pest2" in r.text, r.text
    await pest.close()
