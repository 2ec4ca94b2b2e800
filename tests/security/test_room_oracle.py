"""Issue 10, item 13, on telnet and HTTP: creating a room whose name is taken answers the same
whether the room is public or private, and whether or not the caller may see it, so the answer
tells nothing a public listing does not (a taken name is taken; see docs/security.md)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, command, create_room, telnet
from torbit.app import App
from torbit.config import LimitsConfig


async def test_a_taken_name_answers_the_same_for_public_and_private_rooms(
    make_server: ServerFactory,
) -> None:
    server = await make_server(limits={"create_rate": 0})  # many probes: see the next test
    async with api(server, "owner") as owner:
        await register(owner, "owner", "guest", "stranger")
        await create_room(owner, "open")
        await create_room(owner, "secret", private=True)
        await create_room(owner, "shared", private=True)
        r = await owner.post("/api/v1/rooms/shared/invites", json={"user": "guest"})
        assert r.status_code == 204
    http_answers: set[tuple[int, str]] = set()
    telnet_answers: set[str] = set()
    for who in ("stranger", "guest", "owner"):
        async with api(server, who) as c:
            for name, private in (
                ("open", False),
                ("secret", False),
                ("Secret", True),
                ("shared", True),
                ("OPEN", True),
            ):
                r = await c.post("/api/v1/rooms", json={"name": name, "private": private})
                message = error_of(r, 409, "conflict")
                http_answers.add((r.status_code, message.replace(name, "NAME")))
        client = await telnet(server, who)
        for name in ("open", "secret", "shared", "SECRET"):
            line = await command(client, f"/create {name}", r"^! ")
            telnet_answers.add(line.replace(name, "NAME"))
        await client.close()
    assert http_answers == {(409, "the room name #NAME is taken")}
    assert telnet_answers == {"! the room name #NAME is taken"}
    # the private rooms stayed hidden from the stranger everywhere else
    async with api(server, "stranger") as c:
        error_of(await c.get("/api/v1/rooms/secret"), 404, "not_found")
        listed = [r["name"] for r in (await c.get("/api/v1/rooms")).json()["rooms"]]
        assert "secret" not in listed and "shared" not in listed


async def test_probing_names_by_creating_rooms_is_rate_limited(server: App) -> None:
    async with api(server, "owner") as owner:
        await register(owner, "owner", "prober")
        await create_room(owner, "secret", private=True)
    async with api(server, "prober") as c:
        answers = [
            (await c.post("/api/v1/rooms", json={"name": f"{n}"})).status_code
            for n in ["secret"] * LimitsConfig().create_burst + ["secret", "free-name"]
        ]
    assert answers[-2:] == [429, 429]  # the same for a taken and a free name


async def test_irc_whois_names_a_private_room_only_to_who_is_in_it(
    make_server: ServerFactory,
) -> None:
    """WHOIS of a user in a private room, from IRC, of someone on another door: its name is
    shown to a client in the room, never to one not invited, nor to an invitee not in it
    (NAMES and LIST show an invitee the room: WHOIS is stricter, and so says nothing more)."""
    server = await make_server()
    async with api(server, "owner") as owner:
        await register(owner, "owner", "invitee", "stranger")
        await create_room(owner, "hush", private=True)
        r = await owner.post("/api/v1/rooms/hush/invites", json={"user": "invitee"})
        assert r.status_code == 204
    alice = await telnet(server, "owner")
    await command(alice, "/join hush", r"you are in #hush")

    async def whois_channels(irc: RawIrc, nick: str) -> str:
        irc.send("WHOIS owner")
        await irc.expect(f" 318 {nick} owner ")
        assert any(f" 311 {nick} owner " in line for line in irc.lines)  # online: found
        return " ".join(line for line in irc.lines if f" 319 {nick} owner " in line)

    for nick in ("stranger", "invitee"):
        irc = await RawIrc.connect(server)
        irc.send(f"PASS {nick}:{PASSWORD}")
        await irc.register(nick)
        assert await whois_channels(irc, nick) == ""  # in #hush alone, now on telnet
        assert "hush" not in " ".join(irc.lines)
        if nick == "invitee":
            irc.send("JOIN #hush")
            await irc.expect(f" 366 {nick} #hush ")
            irc.lines.clear()
            assert "#hush" in await whois_channels(irc, nick)
        await irc.close()
    await alice.close()
