"""A NOTICE to a user reached the user as a PRIVMSG (a private message had no kind but
"private"), and a room NOTICE read over HTTP had a `kind` its OpenAPI schema did not list.
IRC clients and bots never answer a NOTICE by themselves, and answer a PRIVMSG: two bots
that answer commands with a NOTICE, each told the other's NOTICE as a PRIVMSG, loop. A
private NOTICE is its own kind now ("private-notice"), on every door."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, basic, http_client
from tests.helpers.irc import joined
from tests.helpers.moderation import telnet
from torbit.frontends.http.schemas import MessageOut


async def test_a_private_notice_stays_a_notice_on_every_door(make_server: ServerFactory) -> None:
    app = await make_server()
    assert app.core is not None
    for name in ("eve", "bob", "tom"):
        await app.core.accounts.register(name, PASSWORD)
    eve = await joined(app, "eve", "room", password=PASSWORD)
    bob = await joined(app, "bob", password=PASSWORD)
    tom = await telnet(app, "tom")
    eve.send("NOTICE bob :ping reply")
    eve.send("PRIVMSG bob :a question")
    eve.send("NOTICE tom :to telnet")
    eve.send("NOTICE #room :to the room", "PING :stored")
    await eve.expect("PONG")  # her lines are handled in order: the room's notice is stored
    await bob.expect("a question")
    assert [line for line in bob.lines if line.startswith(":eve!")] == [
        ":eve!eve@irc.torbit NOTICE bob :ping reply",
        ":eve!eve@irc.torbit PRIVMSG bob :a question",
    ]
    await tom.expect(r"\] \(private\) -eve- to telnet$")

    async with http_client(app) as c:
        r = await c.get("/api/v1/private-messages", auth=basic("bob"))
        assert [(m["kind"], m["text"]) for m in r.json()["messages"]] == [
            ("private-notice", "ping reply"),
            ("private", "a question"),
        ], r.text
        r = await c.get("/api/v1/rooms/room/messages", auth=basic("eve"))
        (m,) = r.json()["messages"]
        assert m["kind"] == "notice"
        MessageOut.model_validate(m)  # the schema lists what is sent
        r = await c.get("/api/v1/private-messages", auth=basic("eve"))  # her own copies
        assert [m["kind"] for m in r.json()["messages"]] == [
            "private-notice",
            "private",
            "private-notice",
        ], r.text

    late = await joined(
        app, "bob", password=PASSWORD
    )  # history as a client reads it later: still NOTICE
    late.send("CHATHISTORY LATEST eve * 10")
    await late.expect("a question")
    replayed = [line for line in late.lines if line.startswith(":eve!")]  # stamped: no server-time
    assert [line.split(" ")[1] for line in replayed] == ["NOTICE", "PRIVMSG"], replayed
    for client in (eve, bob, late):
        await client.close()
    await tom.close()
