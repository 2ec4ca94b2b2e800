"""A name that reads like another one, reached by changing letters' case: an IRC guest may
show its nick in other case (`NICK qux` -> `QUX`), and the look-alike rule (identity.py)
maps a capital I, not a small one, to l. So beside the account `lisa` a guest took `iisa`
(which reads apart) and then `NICK Iisa`: on main every door showed it as `Iisa`, which
reads as `lisa` (telnet's `<Iisa> ...`, the WebSocket's sender, IRC's source), and so could
`officiaI` pass for the reserved `official`. A case change must now read as the name did."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import Ws, api, create_room, in_hall
from tests.security.conftest import DEFAULT_ACCOUNTS


async def _next_of(irc: RawIrc, *needles: str) -> str:
    while True:
        line = await irc.expect(" ")
        if any(n in line for n in needles):
            return line


async def test_a_guest_cannot_change_case_into_a_look_alike(make_server: ServerFactory) -> None:
    app = await make_server(accounts=DEFAULT_ACCOUNTS, irc={"guests": True})
    async with api(app, "tom") as tom_api:
        await register(tom_api, "tom", "lisa")
        await create_room(tom_api, "hall")
    tom = await in_hall(app, "tom")
    tom_ws = await Ws.open(app, "tom")
    await tom_ws.subscribe("hall")

    guest = await RawIrc.connect(app)
    await guest.register("iisa")  # reads apart from lisa: a guest may take it
    guest.send("NICK Iisa")
    assert " 432 iisa Iisa " in await _next_of(guest, " 432 ", " NICK ")
    guest.send("NICK IISA")  # any capital I reads as l
    assert " 432 iisa IISA " in await _next_of(guest, " 432 ", " NICK ")
    guest.send("NICK iiSA", "NICK iiSa")  # cases that keep what it reads as are fine
    assert (await guest.expect(" NICK ")).endswith(" NICK iiSA")
    assert (await guest.expect(" NICK ")).endswith(" NICK iiSa")
    guest.send("JOIN #hall", "PRIVMSG #hall :it is me, lisa")
    await tom.expect(r"<iiSa> it is me, lisa")
    sent = await tom_ws.next("message")
    assert sent["message"]["sender"] == "iiSa"

    other = await RawIrc.connect(app)
    await other.register("officiai")  # reads apart from the reserved "official"
    other.send("NICK officiaI")
    assert " 432 " in await _next_of(other, " 432 ", " NICK ")
