"""A room's member list was read outside the read budget: `NAMES #big` (8 rooms a line) and
`GET .../members` read a whole roster, again and again, at no cost. Now each read of a
roster, on every door, comes out of the reader's budget (`limits.read_rate`, a name a tenth
of a message), refused only when nothing is left, with the errors reads of messages get."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, basic, error_of, http_client
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import command, telnet

BURST = 5
# refills one message every 1,000 s: nothing comes back during the test
SLOW = {"read_rate": 0.001, "read_burst": BURST}


async def test_roster_reads_come_out_of_the_read_budget(make_server: ServerFactory) -> None:
    app = await make_server(limits=SLOW)
    assert app.core is not None
    for name in ("alice", "bob", "carol"):
        await app.core.accounts.register(name, PASSWORD)
    async with http_client(app) as c:
        for name in ("alice", "bob", "carol"):  # members of the lobby (3 names: 1 a read)
            assert (await c.get(f"/receive/lobby/{name}", auth=basic(name))).status_code == 200
        for _ in range(BURST):
            r = await c.get("/api/v1/rooms/lobby/members", auth=basic("alice"))
            assert r.status_code == 200 and len(r.json()["members"]) == 3, r.text
        r = await c.get("/api/v1/rooms/lobby/members", auth=basic("alice"))
        assert "too many messages read" in error_of(r, 429)
        assert r.headers.get("Retry-After")

    irc = await RawIrc.connect(app)
    irc.send(f"PASS bob:{PASSWORD}")
    await irc.register("bob")
    for _ in range(BURST):
        irc.send("NAMES #lobby")
        await irc.expect(" 366 ")
    irc.send("NAMES #lobby")
    assert (await irc.expect(" 263 ")).endswith(
        " 263 bob NAMES :Please wait a while and try again."
    )
    assert not [line for line in irc.lines[-2:] if " 353 " in line]
    await irc.close()

    carol = await telnet(app, "carol")
    for _ in range(BURST):
        await command(carol, "/who", r"members of #lobby \(3\)")
    await command(carol, "/who", r"too many messages read")
    await carol.close()
