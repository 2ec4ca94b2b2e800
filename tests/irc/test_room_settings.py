"""Room settings are the room's, not a door's: set over IRC (MODE +k/+l/+m/+t/+n), over telnet
(/set) or over HTTP (PATCH settings), every door keeps to them: a join key guessed or left
out is refused on each door, a full room refuses joins on each, a non-admin changes nothing
from any door, and the key is shown to members only."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect

from tests.helpers.http import bearer, error_of, http_client, login, ws_url
from tests.helpers.irc import irc_user
from tests.helpers.telnet_client import TelnetClient
from tests.irc.conftest import ws_expect
from tests.irc.test_rules import Accounts
from torbit.app import App


async def telnet(app: App, name: str, cleanup: list[Any]) -> TelnetClient:
    assert app.telnet_port is not None
    tel = await TelnetClient.connect(app.telnet_port)
    cleanup.append(tel)
    await tel.login(name)
    return tel


async def test_a_key_set_over_irc_holds_on_every_door(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tess", "hugo", "wendy")
    gus = await irc_user(app, "gus", join=("#den",))
    cleanup.append(gus)
    await gus.rawmsg("MODE", "#den", "+k", "beer")
    await gus.expect("MODE", "#den", "+k", "beer")
    # IRC: no key, a wrong key, the key
    ann = await irc_user(app, "ann")
    cleanup.append(ann)
    for attempt in (("#den",), ("#den", "bees"), ("#den", "BEER")):
        await ann.rawmsg("JOIN", *attempt)
        await ann.expect("475", "ann", "#den")
    await ann.rawmsg("MODE", "#den")
    assert (await ann.expect("324", "ann", "#den")).params[2:] == ["+ntk", "*"]  # not a member
    await ann.rawmsg("JOIN", "#den", "beer")
    await ann.expect("366", "ann", "#den")
    await ann.rawmsg("MODE", "#den")
    assert (await ann.expect("324", "ann", "#den")).params[2:] == ["+ntk", "beer"]
    # telnet
    tess = await telnet(app, "tess", cleanup)
    tess.send("/join den")
    await tess.expect("needs its join key")
    tess.send("/join den nope")
    await tess.expect("needs its join key")
    tess.send("/join den beer")
    await tess.expect("you are in #den")
    # HTTP
    async with http_client(app) as client:
        headers = bearer(await login(client, "hugo"))
        url = "/api/v1/rooms/den/members/hugo"
        error_of(await client.put(url, headers=headers), 403, "bad_key")
        error_of(await client.put(url, headers=headers, json={"key": "been"}), 403, "bad_key")
        error_of(await client.get("/api/v1/rooms/den/settings", headers=headers), 403)
        joined = await client.put(url, headers=headers, json={"key": "beer"})
        assert joined.status_code == 200, joined.text
        settings = await client.get("/api/v1/rooms/den/settings", headers=headers)
        assert settings.json()["join_key"] == "beer"
    # WebSocket
    async with http_client(app) as client:
        token = await login(client, "wendy")
    async with connect(ws_url(app), additional_headers=bearer(token)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "room": "den", "ref": 1}))
        assert (await ws_expect(ws, "error"))["code"] == "bad_key"
        await ws.send(json.dumps({"type": "subscribe", "room": "den", "key": "beer"}))
        await ws_expect(ws, "notice", "you are in #den")


async def test_a_limit_set_over_http_holds_on_every_door(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("olga", "tess", "hugo")
    async with http_client(app) as client:
        olga = bearer(await login(client, "olga"))
        hugo = bearer(await login(client, "hugo"))
        assert (await client.post("/api/v1/rooms", headers=olga, json={"name": "den"})).is_success
        changed = await client.patch(
            "/api/v1/rooms/den/settings", headers=olga, json={"member_limit": 2}
        )
        assert changed.json()["member_limit"] == 2, changed.text
        error_of(
            await client.patch(
                "/api/v1/rooms/den/settings", headers=olga, json={"member_limit": -1}
            ),
            422,
        )
        gus = await irc_user(app, "gus", join=("#den",))  # the second member
        cleanup.append(gus)
        error_of(await client.put("/api/v1/rooms/den/members/hugo", headers=hugo), 403, "room_full")
        ann = await irc_user(app, "ann")
        cleanup.append(ann)
        await ann.rawmsg("JOIN", "#den")
        await ann.expect("471", "ann", "#den")
        tess = await telnet(app, "tess", cleanup)
        tess.send("/join den")
        await tess.expect("is full")
        # parallel joins through every door never pass the limit
        await client.patch("/api/v1/rooms/den/settings", headers=olga, json={"member_limit": 3})
        tess.send("/join den")
        results = await asyncio.gather(
            client.put("/api/v1/rooms/den/members/hugo", headers=hugo),
            ann.rawmsg("JOIN", "#den"),
        )
        await ann.settle()
        await tess.lines_for(0.3)
        assert app.core is not None
        members = await app.core.store.list_members("den")
        assert len(members) == 3, members
        assert results[0].status_code in (200, 403)


async def test_a_non_admin_changes_nothing_from_any_door(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tess", "hugo")
    gus = await irc_user(app, "gus", join=("#den",))
    ann = await irc_user(app, "ann", join=("#den",))
    cleanup += [gus, ann]
    tess = await telnet(app, "tess", cleanup)
    tess.send("/join den")
    await tess.expect("you are in #den")
    await ann.rawmsg("MODE", "#den", "+mk-t", "x")
    await ann.expect("482", "ann", "#den")
    tess.send("/set moderated on")
    await tess.expect("only room admins of #den may /set")
    async with http_client(app) as client:
        hugo = bearer(await login(client, "hugo"))
        assert (await client.put("/api/v1/rooms/den/members/hugo", headers=hugo)).is_success
        response = await client.patch(
            "/api/v1/rooms/den/settings", headers=hugo, json={"moderated": True}
        )
        error_of(response, 403, "forbidden")
    assert app.core is not None
    room = await app.core.store.get_room("den")
    assert room is not None and room.settings == type(room.settings)()


async def test_moderated_and_topic_lock_set_over_telnet_hold_on_irc(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("olga")
    olga = await telnet(app, "olga", cleanup)
    olga.send("/create den")
    await olga.expect("den")
    olga.send("/join den")
    await olga.expect("you are in #den")
    ann = await irc_user(app, "ann", join=("#den",))
    cleanup.append(ann)
    olga.send("/set moderated on")
    await ann.expect("MODE", "#den", "+m")
    await ann.message("#den", "may I?")
    assert "moderated" in (await ann.expect("404", "ann", "#den")).params[2]
    await ann.rawmsg("TOPIC", "#den", "mine")
    await ann.expect("482", "ann", "#den")
    olga.send("/set topic-lock off")
    await ann.expect("MODE", "#den", "-t")
    await ann.rawmsg("TOPIC", "#den", "mine")
    await ann.expect("TOPIC", "#den", "mine")
    olga.send("/set")
    await olga.expect("topic-lock: off")
