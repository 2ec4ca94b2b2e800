"""Values one door lets in and IRC cannot show. A ban mask, ban or invite exception or join
key starting with ':' is a middle parameter of IRC lines (RPL_BANLIST 367, RPL_EXCEPTLIST
348, RPL_CHANNELMODEIS 324, a `MODE #room +kl :abc 5` change), which cannot start with ':':
each such line was dropped. A room admin on HTTP so set a ban no IRC operator saw in
`MODE #hall +b` (nor could name in a `MODE -b` to lift it), and a key after which `MODE #hall`
answered nothing and IRC members were never told of the change. Now refused on every door,
while a ':' inside a value (an IPv6 host, `a:b`) is shown as set."""

from __future__ import annotations

from tests.helpers.http import PASSWORD, error_of, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, create_room
from torbit.app import App


async def _irc_admin(app: App) -> RawIrc:
    irc = await RawIrc.connect(app)
    irc.send(f"PASS alice:{PASSWORD}", "NICK alice", "USER alice 0 * :a", "CAP END")
    irc.send("JOIN #hall")
    await irc.expect(" 366 ")
    return irc


async def test_values_starting_with_a_colon_are_refused_on_every_door(server: App) -> None:
    async with api(server, "alice") as alice:
        await register(alice, "alice")
        await create_room(alice, "hall")
        for path, params in [
            ("banmasks", {"mask": ":x!*@*"}),
            ("exceptions", {"mask": ":e!*@*", "kind": "ban"}),
            ("exceptions", {"mask": ":i!*@*", "kind": "invite"}),
        ]:
            r = await alice.put(f"/api/v1/rooms/hall/{path}", params=params)
            assert "cannot start with ':'" in error_of(r, 422), (path, params)
        r = await alice.patch("/api/v1/rooms/hall/settings", json={"join_key": ":abc"})
        assert "cannot start with ':'" in error_of(r, 422)

        irc = await _irc_admin(server)
        irc.send("MODE #hall +k ::abc")
        assert (await irc.expect(" 696 ")).endswith(" k * :a join key cannot start with ':'")
        # what is set has no leading ':', and IRC lists and shows all of it
        for path, params in [
            ("banmasks", {"mask": "x!*@::1"}),
            ("exceptions", {"mask": "e!*@::2", "kind": "ban"}),
        ]:
            r = await alice.put(f"/api/v1/rooms/hall/{path}", params=params)
            assert r.status_code == 204, r.text
        r = await alice.patch("/api/v1/rooms/hall/settings", json={"join_key": "a:bc"})
        assert r.status_code == 200, r.text
        await irc.expect(" MODE #hall +k a:bc")
        irc.send("MODE #hall +b", "MODE #hall +e", "MODE #hall")
        await irc.expect(" 368 ")
        bans = [line for line in irc.lines if " 367 " in line]
        assert [line.split()[4] for line in bans] == ["x!*@::1"]
        await irc.expect(" 349 ")
        assert [line.split()[4] for line in irc.lines if " 348 " in line] == ["e!*@::2"]
        assert (await irc.expect(" 324 ")).endswith(" 324 alice #hall +ntk a:bc")
        r = await alice.get("/api/v1/rooms/hall/bans")
        assert [m["mask"] for m in r.json()["masks"]] == ["x!*@::1"]
        await irc.close()
