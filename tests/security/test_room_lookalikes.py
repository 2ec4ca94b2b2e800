"""Room names that read alike (docs/security.md, "Attacks across doors and on names that look
alike"): beside `#lobby`, `#Iobby`, `#l0bby` and `#1obby` read the same in a chat line. No door
creates one: HTTP create and join (409), telnet `/create` and `/join` (`! ...`), IRC `JOIN`
of an account or a guest (479 ERR_BADCHANNAME) and a WebSocket subscribe (an error frame) all give one answer, which
names no room and reads the same whether the look-alike is public or private. Look-alikes
asked for at the same instant on several doors leave one room."""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import Ws, api, command, create_room, services, telnet
from torbit.app import App

ANSWER = "the room name #NAME reads too much like an existing room"
# look-alikes of the public `lobby` (the server's default room) and of the private `vault`
LOOK_ALIKES = {"lobby": ("Iobby", "l0bby", "1obby"), "vault": ("vauIt", "vau1t", "VAUIt")}


async def _irc(server: App, nick: str) -> RawIrc:
    irc = await RawIrc.connect(server)
    irc.send(f"PASS {nick}:{PASSWORD}")
    await irc.register(nick)
    return irc


async def _room_keys(server: App) -> list[str]:
    return [r.key for r, _ in await services(server).store.list_rooms()]


async def test_every_door_refuses_a_look_alike_room_with_one_answer(
    make_server: ServerFactory,
) -> None:
    server = await make_server(limits={"create_rate": 0, "join_rate": 0}, irc={"guests": True})
    async with api(server, "owner") as owner:
        await register(owner, "owner", "mallory")
        await create_room(owner, "vault", private=True)
    client = await telnet(server, "mallory")  # in #lobby, which is made so
    irc = await _irc(server, "mallory")
    ws = await Ws.open(server, "mallory")
    guest = await RawIrc.connect(server)  # no account: a guest's room has another path
    await guest.register("visitor")
    before = await _room_keys(server)
    assert "lobby" in before and "vault" in before
    answers: dict[str, set[str]] = {}

    def answered(door: str, text: str, name: str) -> None:
        answers.setdefault(door, set()).add(text.replace(name, "NAME"))

    async with api(server, "mallory") as c:
        for names in LOOK_ALIKES.values():
            for name in names:
                for private in (False, True):
                    r = await c.post("/api/v1/rooms", json={"name": name, "private": private})
                    answered("http create", error_of(r, 409, "conflict"), name)
                r = await c.put(f"/api/v1/rooms/{name}/members/mallory")
                answered("http join", error_of(r, 409, "conflict"), name)
                for verb in ("/create", "/join"):
                    line = await command(client, f"{verb} {name}", r"^! ")
                    answered(f"telnet {verb}", line.removeprefix("! "), name)
                irc.send(f"JOIN #{name}")
                line = await irc.expect(f" #{name} :")
                assert f" 479 mallory #{name} :Cannot join channel: " in line, line
                answered("irc", line.split(":Cannot join channel: ", 1)[1], name)
                guest.send(f"JOIN #{name}")
                line = await guest.expect(f" #{name} :")
                assert f" 479 visitor #{name} :Cannot join channel: " in line, line
                answered("irc guest", line.split(":Cannot join channel: ", 1)[1], name)
                await ws.send(type="subscribe", room=name)
                frame = await ws.next("error")
                assert frame["code"] == "conflict", frame
                answered("websocket", frame["message"], name)
    assert answers == {door: {ANSWER} for door in answers}, answers
    assert len(answers) == 7
    assert await _room_keys(server) == before  # nothing was created
    # the rooms themselves are still there to join, and other names are free
    async with api(server, "mallory") as c:
        assert (await c.put("/api/v1/rooms/lobby/members/mallory")).status_code == 200
    await command(client, "/create lobby-two", r"you created #lobby-two")
    await client.close()
    await irc.close()
    await guest.close()
    await ws.close()


async def test_look_alikes_asked_for_at_once_on_every_door_leave_one(
    make_server: ServerFactory,
) -> None:
    server = await make_server(limits={"create_rate": 0, "join_rate": 0})
    look_alikes = ("lobby", "Iobby", "l0bby", "1obby", "I0bby", "10bby")  # six keys, one skeleton
    users = [f"u{i}" for i in range(len(look_alikes))]
    async with api(server, users[0]) as c:
        await register(c, *users)
    telnets = [await telnet(server, u) for u in users[3:5]]
    irc = await _irc(server, users[5])
    https = [api(server, u) for u in users[:3]]

    async def http_create(i: int, name: str) -> str:
        r = await https[i].post("/api/v1/rooms", json={"name": name})
        return "made" if r.status_code == 201 else error_of(r, 409, "conflict")

    async def http_join(name: str) -> str:
        r = await https[2].put(f"/api/v1/rooms/{name}/members/{users[2]}")
        return "made" if r.status_code == 200 else error_of(r, 409, "conflict")

    async def telnet_do(i: int, verb: str, name: str) -> str:
        line = await command(telnets[i], f"{verb} {name}", rf"^! |you are in #{name}")
        return line if line.startswith("!") else "made"

    async def irc_join(name: str) -> str:
        irc.send(f"JOIN #{name}")
        line = await irc.expect(f" #{name}")
        return "made" if " JOIN " in line or " 366 " in line else line

    try:
        for round_ in range(4):
            mine = [f"{n}{round_}" for n in look_alikes]
            made = await asyncio.gather(
                http_create(0, mine[0]),
                http_create(1, mine[1]),
                http_join(mine[2]),
                telnet_do(0, "/join", mine[3]),
                telnet_do(1, "/create", mine[4]),
                irc_join(mine[5]),
            )
            assert made.count("made") == 1, made
            assert all("reads too much like an existing room" in m for m in made if m != "made")
            keys = [k for k in await _room_keys(server) if k.endswith(str(round_))]
            assert len(keys) == 1, keys
    finally:
        for h in https:
            await h.aclose()
        for t in telnets:
            await t.close()
        await irc.close()


async def test_a_look_alike_made_first_does_not_keep_out_the_default_room(
    make_server: ServerFactory,
) -> None:
    """On a new server, before anyone has been in #lobby: `#Iobby` made over HTTP, then a
    login on telnet still lands in #lobby, and #lobby is its own room beside #Iobby."""
    server = await make_server()
    async with api(server, "mallory") as c:
        await register(c, "mallory", "alice")
        assert "lobby" not in await _room_keys(server)
        await create_room(c, "Iobby")
    client = await telnet(server, "alice")
    client.send("/who")
    await client.expect(r"here in #lobby")
    assert {"lobby", "iobby"} <= set(await _room_keys(server))
    await client.close()


async def test_a_look_alike_made_first_does_not_keep_an_irc_guest_out_of_the_default_room(
    make_server: ServerFactory,
) -> None:
    """The same with a guest's first join of #lobby over IRC: a guest's join made the room
    on another path, which took no exemption for the default room (479 on main)."""
    server = await make_server(irc={"guests": True})
    async with api(server, "mallory") as c:
        await register(c, "mallory")
        await create_room(c, "Iobby")
    assert "lobby" not in await _room_keys(server)
    guest = await RawIrc.connect(server)
    await guest.register("visitor")
    guest.send("JOIN #lobby")
    await guest.expect(" 366 visitor #lobby ")
    lobby = await services(server).store.get_room("lobby")
    assert lobby is not None and lobby.owner is None  # the server's, not the guest's
    assert await services(server).store.list_room_admins("lobby") == []
    await guest.close()
