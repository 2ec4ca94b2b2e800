"""What an invitation lets a stranger do to you, over real sockets on every door. Anyone may
create rooms and invite anyone to them; on main a user's invitations were unbounded and
listed (IRC's INVITE alone) as the first 100 by room name, so rooms named `0000-…` hid a
friend's, an ignored user's were listed, and there was no way to decline one.

Now (bound 4 here, `limits.invites_per_user`): three spammers with four rooms each invite
at once over HTTP, telnet and IRC, and the victim holds 4, the friend's among them, listed
newest first on every door; an ignored user's are not listed; the victim declines on each
door; and an admin deopped while connected can no longer invite on any door."""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, command, create_room, services, telnet
from torbit.app import App

BOUND = 4
SPAMMERS = ("sp1", "sp2", "sp3")


async def _server(make_server: ServerFactory) -> App:
    # rates lifted so that only the bound (and the rights) can refuse
    limits = {"invites_per_user": BOUND, "invite_rate": 0, "create_rate": 0, "join_rate": 0}
    app = await make_server(limits=limits)
    for name in ("victim", "friend", "pest", "owner", "helper", "other", *SPAMMERS):
        await services(app).accounts.register(name, PASSWORD, by_admin=True)
    return app


async def _irc(app: App, name: str, *channels: str) -> RawIrc:
    irc = await RawIrc.connect(app)
    irc.send(f"PASS {name}:{PASSWORD}")
    await irc.register(name)
    for channel in channels:
        irc.send(f"JOIN {channel}")
        await irc.expect(f" 366 {name} {channel} ")
    return irc


async def _irc_list(irc: RawIrc) -> list[str]:
    """The channels IRC's INVITE alone lists (336s up to the 337)."""
    irc.send("INVITE")
    await irc.expect(" 337 ")
    end = max(i for i, line in enumerate(irc.lines) if " 337 " in line)
    start = max((i for i, line in enumerate(irc.lines[:end]) if " 337 " in line), default=-1)
    return [line.split()[-1] for line in irc.lines[start + 1 : end] if " 336 " in line]


async def test_strangers_inviting_at_once_on_every_door_push_out_only_their_own(
    make_server: ServerFactory,
) -> None:
    app = await _server(make_server)
    rooms = {s: [f"0000-{s}-{i}" for i in range(4)] for s in SPAMMERS}
    for s in SPAMMERS:
        async with api(app, s) as http:
            for name in rooms[s]:
                await create_room(http, name, private=True)
    async with api(app, "friend") as friend:
        await create_room(friend, "zfriend", private=True)
        r = await friend.post("/api/v1/rooms/zfriend/invites", json={"user": "victim"})
        assert r.status_code == 204

    sp2 = await telnet(app, "sp2")
    sp3 = await _irc(app, "sp3", *(f"#{name}" for name in rooms["sp3"]))

    async def over_http() -> None:
        async with api(app, "sp1") as http:
            answers = await asyncio.gather(
                *(
                    http.post(f"/api/v1/rooms/{name}/invites", json={"user": "victim"})
                    for name in rooms["sp1"]
                )
            )
            assert [a.status_code for a in answers] == [204] * 4

    async def over_telnet() -> None:
        for name in rooms["sp2"]:
            await command(sp2, f"/join {name}", rf"^\* you are (already )?in #{name}")
            await command(sp2, "/invite victim", f"you invited victim to #{name}")

    async def over_irc() -> None:
        sp3.send(*(f"INVITE victim #{name}" for name in rooms["sp3"]))
        for name in rooms["sp3"]:
            await sp3.expect(f" 341 sp3 victim #{name}")

    await asyncio.gather(over_http(), over_telnet(), over_irc())

    stored = await services(app).store.invitations("victim")
    assert len(stored) == BOUND
    assert ("zfriend", "friend") in [(i.room_key, i.by) for i in stored]
    newest = [i.room_key for i in stored]  # the store's order: newest first

    # listed newest first on every door, the friend's among them
    async with api(app, "victim") as victim_http:
        r = await victim_http.get("/api/v1/me/invites")
        assert r.status_code == 200
        listed = [(i["room"], i["by"]) for i in r.json()["invitations"]]
        assert [room for room, _ in listed] == newest
        assert ("zfriend", "friend") in listed
        victim = await telnet(app, "victim")
        await command(victim, "/invites", rf"{BOUND} invitations, newest first")
        for room in newest:
            line = await victim.expect(rf"^\*   #{room}")
            assert line.string.startswith(f"*   #{room} from ")
        victim_irc = await _irc(app, "victim")
        assert await _irc_list(victim_irc) == [f"#{room}" for room in newest]

        # declined on each door: gone from every list, and a second decline is refused
        spam = [room for room in newest if room != "zfriend"]
        assert (await victim_http.delete("/api/v1/me/invites/zfriend")).status_code == 204
        r = await victim_http.delete("/api/v1/me/invites/zfriend")
        assert error_of(r, 404, "not_found") == "you have no invitation to #zfriend"
        await command(victim, f"/decline #{spam[0]}", f"you declined the invitation to #{spam[0]}")
        await command(victim, f"/decline {spam[0]}", f"! you have no invitation to #{spam[0]}")
        victim_irc.send(f"UNINVITE #{spam[1]}")
        await victim_irc.expect(f"You declined your invitation to #{spam[1]}")
        victim_irc.send(f"UNINVITE victim #{spam[1]}")
        await victim_irc.expect(f"You have no invitation to #{spam[1]}")
        victim_irc.send(f"UNINVITE friend #{spam[2]}")  # only one's own
        await victim_irc.expect(f" 482 victim #{spam[2]} :Only the invitee may decline")
        assert await _irc_list(victim_irc) == [f"#{spam[2]}"]
        r = await victim_http.get("/api/v1/me/invites")
        assert [i["room"] for i in r.json()["invitations"]] == [spam[2]]
        # a declined private room is closed again
        r = await victim_http.put(f"/api/v1/rooms/{spam[0]}/members/victim")
        assert r.status_code == 404
    for client in (sp2, victim):
        await client.close()
    for irc in (sp3, victim_irc):
        await irc.close()


async def test_an_ignored_users_invitation_is_not_listed_on_any_door(
    make_server: ServerFactory,
) -> None:
    """On main IRC's INVITE listed it (`#0pest` before the friend's)."""
    app = await _server(make_server)
    async with api(app, "victim") as victim_http:
        assert (await victim_http.put("/api/v1/me/ignores/pest")).status_code == 204
        for name, room in (("pest", "0pest"), ("friend", "zfriend")):
            async with api(app, name) as http:
                await create_room(http, room, private=True)
                r = await http.post(f"/api/v1/rooms/{room}/invites", json={"user": "victim"})
                assert r.status_code == 204
        victim_irc = await _irc(app, "victim")
        assert await _irc_list(victim_irc) == ["#zfriend"]
        r = await victim_http.get("/api/v1/me/invites")
        assert [(i["room"], i["by"]) for i in r.json()["invitations"]] == [("zfriend", "friend")]
        victim = await telnet(app, "victim")
        await command(victim, "/invites", r"1 invitation,")
        await victim.expect(r"^\*   #zfriend from friend")
        # the invitation still admits (an ignore hides, it does not refuse)
        await command(victim, "/join 0pest", r"^\* you are (already )?in #0pest")
        assert [line for line in victim.seen if "pest invited" in line] == []
        await victim.close()
        await victim_irc.close()


async def test_an_admin_deopped_while_connected_cannot_invite_on_any_door(
    make_server: ServerFactory,
) -> None:
    app = await _server(make_server)
    async with api(app, "owner") as owner:
        await create_room(owner, "den", private=True)
        r = await owner.post("/api/v1/rooms/den/invites", json={"user": "helper"})
        assert r.status_code == 204
        async with api(app, "helper") as helper_http:
            assert (await helper_http.put("/api/v1/rooms/den/members/helper")).status_code == 200
            assert (await owner.put("/api/v1/rooms/den/admins/helper")).status_code == 204
            helper = await telnet(app, "helper")
            await command(helper, "/join den", r"^\* you are (already )?in #den")
            helper_irc = await _irc(app, "helper", "#den")
            # an admin invites on each door while still one
            r = await helper_http.post("/api/v1/rooms/den/invites", json={"user": "victim"})
            assert r.status_code == 204
            await command(helper, "/invite friend", "you invited friend to #den")
            helper_irc.send("INVITE pest #den")
            await helper_irc.expect(" 341 helper pest #den")

            assert (await owner.delete("/api/v1/rooms/den/admins/helper")).status_code == 204
            r = await helper_http.post("/api/v1/rooms/den/invites", json={"user": "other"})
            assert r.status_code == 403
            await command(helper, "/invite other", r"^! only room admins of #den may /invite")
            helper_irc.send("INVITE other #den")
            await helper_irc.expect(" 482 helper #den ")
            assert await services(app).store.invitations("other") == []
            await helper.close()
            await helper_irc.close()
