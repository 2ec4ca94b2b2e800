"""Kicks, bans, mutes and op/deop are rate limited per user (`limits.moderation_rate`), with
one bucket for every door. Each is an audit entry, a node event and a notice to the room; on
main none had a limit, so anyone who created a room could ban and unban (or op and deop) a
member without end: 1,200 `MODE +o/-o/+b/-b` lines were applied in 8 s on one connection,
each written to the audit log and told to the room (and 200 mutes and unmutes over HTTP)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, basic, error_of, http_client, register
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient

BURST = 3
SLOW = {"moderation_rate": 0.001, "moderation_burst": BURST}  # no refill in a test


async def test_moderation_is_one_bucket_across_doors(make_server: ServerFactory) -> None:
    app = await make_server(limits=SLOW)
    assert app.telnet_port is not None
    async with http_client(app) as http:
        await register(http, "alice", "bob")
        for name in ("alice", "bob"):
            r = await http.put(f"/api/v1/rooms/hall/members/{name}", auth=basic(name))
            assert r.status_code in (200, 201), r.text
        irc = await RawIrc.connect(app)
        irc.send(f"PASS alice:{PASSWORD}")
        await irc.register("alice")
        irc.send("JOIN #hall")
        await irc.expect(" 366 ")
        telnet = await TelnetClient.connect(app.telnet_port)
        await telnet.login("alice")
        telnet.send("/join hall")  # (or back there already: joined last, core/comeback.py)
        await telnet.expect(r"^\* you are (already )?in #hall")

        # the burst, one action on each door
        irc.send("MODE #hall +o bob")
        await irc.expect(" MODE #hall +o bob")
        telnet.send("/deop bob")
        await telnet.expect("took bob's admin rights")
        r = await http.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 5}, auth=basic("alice"))
        assert r.status_code < 300, r.text

        # then every door is refused, and nothing is done
        irc.send("MODE #hall +b bob", "KICK #hall bob :out")
        await irc.expect("slow down: too many kicks, bans, mutes or admin changes")
        await irc.expect("slow down: too many kicks, bans, mutes or admin changes")
        telnet.send("/ban bob")
        await telnet.expect("^! slow down: too many kicks, bans")
        r = await http.delete("/api/v1/rooms/hall/mutes/bob", auth=basic("alice"))
        assert "slow down" in error_of(r, 429)
        r = await http.put("/api/v1/rooms/hall/admins/bob", auth=basic("alice"))
        error_of(r, 429)
        irc.send("MODE #hall +v bob")  # a voice is the same kind of change
        await irc.expect("slow down: too many kicks, bans, mutes or admin changes")
        r = await http.put("/api/v1/rooms/hall/voices/bob", auth=basic("alice"))
        error_of(r, 429)

        r = await http.get("/api/v1/rooms/hall/audit", auth=basic("alice"))
        actions = [e["action"] for e in r.json()["entries"]]
        assert sorted(a for a in actions if a != "create") == ["deop", "mute", "op"], actions
        r = await http.get("/api/v1/rooms/hall/members", auth=basic("alice"))
        assert "bob" in r.text  # neither banned nor kicked
        await irc.close()
        await telnet.close()
