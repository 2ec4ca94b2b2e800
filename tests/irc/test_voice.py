"""Voice on every door, through real sockets: IRC's MODE +v/-v (relayed to the channel,
PREFIX=(qov)~@+, + in NAMES and WHO, all prefixes with multi-prefix), telnet's /voice and
/devoice, HTTP's PUT/DELETE voices/{user} and the members list. Seen as an attacker would:
a non-admin's +v is refused on each door, a voice taken away silences a session still open
at once, and a voice does not outlive its membership (leave, kick)."""

from __future__ import annotations

from typing import Any

from tests.helpers.http import bearer, error_of, http_client, login
from tests.helpers.irc import RawIrc, irc_user
from tests.irc.test_room_settings import telnet
from tests.irc.test_rules import Accounts
from torbit.app import App

VOICES = "/api/v1/rooms/den/voices"


async def test_voice_on_every_door(app: App, accounts: Accounts, cleanup: list[Any]) -> None:
    await accounts("olga", "tess", "hugo")
    olga = await telnet(app, "olga", cleanup)
    olga.send("/create den")
    await olga.expect("den")
    olga.send("/join den")
    await olga.expect("you are in #den")
    olga.send("/set moderated on")
    await olga.expect("let only admins and voiced members speak")
    ann = await irc_user(app, "ann", join=("#den",))
    cleanup.append(ann)
    tess = await telnet(app, "tess", cleanup)
    tess.send("/join den")
    await tess.expect("you are in #den")

    # not an admin: refused on every door, and nobody got a voice
    await ann.rawmsg("MODE", "#den", "+v", "ann")
    await ann.expect("482", "ann", "#den")
    tess.send("/voice tess")
    await tess.expect("only room admins of #den may /voice")
    async with http_client(app) as client:
        hugo = bearer(await login(client, "hugo"))
        assert (await client.put("/api/v1/rooms/den/members/hugo", headers=hugo)).is_success
        error_of(await client.put(f"{VOICES}/hugo", headers=hugo), 403, "forbidden")
        members = (await client.get("/api/v1/rooms/den/members", headers=hugo)).json()
        assert members["voiced"] == []

    # IRC: unvoiced, 404; voiced over telnet, the MODE line reaches the channel and ann speaks
    await ann.message("#den", "may I?")
    assert "moderated" in (await ann.expect("404", "ann", "#den")).params[2]
    olga.send("/voice ann")
    await ann.expect("MODE", "#den", "+v", "ann")
    await ann.message("#den", "thanks")
    await olga.expect("<ann> thanks")
    await ann.rawmsg("NAMES", "#den")
    # pydle asks for multi-prefix and userhost-in-names
    names = [n.split("!")[0] for n in (await ann.expect("353", "ann")).params[3].split()]
    assert set(names) == {"+ann", "~@olga", "tess"}
    # devoiced while the session stays open: refused at once
    olga.send("/devoice ann")
    await ann.expect("MODE", "#den", "-v", "ann")
    await ann.message("#den", "still?")
    await ann.expect("404", "ann", "#den")

    # HTTP: the owner voices hugo; the members list shows it; he speaks until devoiced
    async with http_client(app) as client:
        owner = bearer(await login(client, "olga"))
        assert (await client.put(f"{VOICES}/hugo", headers=owner)).status_code == 204
        error_of(await client.put(f"{VOICES}/hugo", headers=owner), 409, "conflict")
        members = (await client.get("/api/v1/rooms/den/members", headers=hugo)).json()
        assert members["voiced"] == ["hugo"]
        await ann.expect("MODE", "#den", "+v", "hugo")
        sent = await client.post("/api/v1/rooms/den/messages", headers=hugo, json={"text": "hi"})
        assert sent.is_success
        error_of(await client.delete(f"{VOICES}/ann", headers=hugo), 403, "forbidden")
        # leaving ends the voice: back in, he is not voiced
        assert (await client.delete("/api/v1/rooms/den/members/hugo", headers=hugo)).is_success
        assert (await client.put("/api/v1/rooms/den/members/hugo", headers=hugo)).is_success
        error_of(
            await client.post("/api/v1/rooms/den/messages", headers=hugo, json={"text": "x"}),
            403,
            "forbidden",
        )
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert set(paths["/api/v1/rooms/{room}/voices/{user}"]) == {"put", "delete"}

    # telnet: a kick ends the voice too
    olga.send("/voice tess")
    await tess.expect("olga gave tess a voice in #den")
    tess.send("voiced now")
    await olga.expect("<tess> voiced now")
    olga.send("/kick tess")
    await tess.expect("you were kicked from #den")
    tess.send("/join den")
    await tess.expect("you are in #den")
    tess.send("after the kick")
    await tess.expect("moderated: only its admins and voiced members may speak")


async def test_prefixes_in_isupport_names_and_who(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    """One prefix without multi-prefix, every one (highest first) with it."""
    bob = await RawIrc.connect(app)
    cleanup.append(bob)
    bob.send("CAP LS 302", "NICK bob", "USER bob 0 * :bob", "CAP END")
    assert "PREFIX=(qov)~@+" in await bob.expect("PREFIX=")
    await bob.expect(" 376 ")
    bob.send("JOIN #den", "MODE #den +v bob", "NAMES #den", "WHO #den")
    await bob.expect("MODE #den +v bob")
    assert (await bob.expect(" 353 ")).endswith(" @bob")  # a guest's room: its admin
    assert " H@ " in await bob.expect(" 352 ")
    multi = await RawIrc.connect(app)
    cleanup.append(multi)
    multi.send("CAP LS 302", "CAP REQ :multi-prefix", "NICK amy", "USER amy 0 * :amy", "CAP END")
    await multi.expect(" 376 ")
    multi.send("JOIN #den", "NAMES #den", "WHO #den")
    assert "@+bob" in (await multi.expect(" 353 ")).split(" = #den ")[1].lstrip(":").split()
    await multi.expect(" 366 ")
    who = [await multi.expect(" 352 "), await multi.expect(" 352 ")]
    assert any(" bob H@+ " in line for line in who), who
    bob.send("MODE #den +v amy")
    await multi.expect("MODE #den +v amy")
    multi.send("NAMES #den")
    assert "+amy" in (await multi.expect(" 353 ")).split(" = #den ")[1].lstrip(":").split()
