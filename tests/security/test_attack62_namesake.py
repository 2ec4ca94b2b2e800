"""attack62: the doors' membership check (`Store.is_member`, cass61) on a room deleted and
made again under its name while a member's sessions stay open on every door, the node's
memory of his membership warm (he had sent by HTTP), and the new room private."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import joined
from tests.helpers.moderation import Ws, api, command, create_room, telnet


async def test_a_member_of_a_deleted_room_is_nobody_in_its_namesake_on_any_door(
    make_server: ServerFactory,
) -> None:
    """bob, member of alice's #den, listens on IRC, telnet and a WebSocket and has sent by
    HTTP; alice deletes #den, mallory makes a private #den and talks there. bob's sends
    (HTTP, IRC `PRIVMSG`, telnet, WebSocket), reads (a history page, `/receive`, IRC
    `CHATHISTORY`) and IRC's `TOPIC` and `MODE #den` are each refused, and none of his
    sessions hears mallory's line."""
    app = await make_server()
    async with api(app, "alice") as alice, api(app, "bob") as bob:
        await register(alice, "alice", "bob", "mallory")
        await create_room(alice, "den")
        assert (await bob.put("/api/v1/rooms/den/members/bob")).status_code == 200
        r = await bob.post("/api/v1/rooms/den/messages", json={"text": "warm"})
        assert r.status_code == 201, r.text  # the node remembers him a member of #den
        irc = await joined(app, "bob", "den", password=PASSWORD, caps="draft/chathistory batch")
        tn = await telnet(app, "bob")
        await command(tn, "/join den", r"^\* you are (already )?in #den")
        ws = await Ws.open(app, "bob")
        await ws.subscribe("den")
        assert (await alice.delete("/api/v1/rooms/den")).status_code == 204
        await irc.expect(" KICK #den bob ")
        await tn.expect("deleted")
        await ws.next("notice", "deleted")
        async with api(app, "mallory") as mallory:
            await create_room(mallory, "den", private=True)
            r = await mallory.post("/api/v1/rooms/den/messages", json={"text": "mine alone"})
            assert r.status_code == 201, r.text
        answers = {
            "send": (
                await bob.post("/api/v1/rooms/den/messages", json={"text": "in?"})
            ).status_code,
            "page": (await bob.get("/api/v1/rooms/den/messages")).status_code,
            "receive": (await bob.get("/receive/den/bob")).status_code,
        }
    irc.send(
        "PRIVMSG #den :in?", "TOPIC #den", "MODE #den", "CHATHISTORY LATEST #den * 10", "PING :x"
    )
    await irc.expect("PONG")
    tn.send("in?")
    tn.send("/join den")
    await tn.expect(r"^! ")
    await ws.send(type="send", room="den", text="in?", ref=1)
    await ws.next("error")
    stored = [m.text for m in await app.core.message_log.read("den")]  # type: ignore[union-attr]
    heard = [line for line in irc.lines + tn.seen if "mine alone" in line]
    print(f"bob after #den made again: HTTP {answers}, stored {stored}, heard {heard}")
    assert set(answers.values()) <= {403, 404}, answers
    assert stored == ["mine alone"], stored
    assert heard == [] and "mine alone" not in ws.texts()
    replies = [line for line in irc.lines if " 332 " in line or " 324 " in line]
    assert replies == [], replies  # no topic, no modes of mallory's room
    await ws.close()
