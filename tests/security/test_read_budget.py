"""Reading had no rate: one account could ask for the same page of 1,000 messages (up to 4 MB
to encode) again and again, on many connections at once, and keep the server busy for
everyone. Now every read of messages, through any door, comes out of the reader's budget
(`limits.read_rate`, `limits.read_burst`): a read gets at most what is left, only a read when
nothing is left is refused (429 with Retry-After), and what a read already moved the cursor
over is always answered."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, basic, http_client, texts
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import Ws, command, telnet
from torbit.app import App

BURST = 300
# refills one message every 1,000 s: nothing comes back during the test, so every count
# below is exact
SLOW = {"read_rate": 0.001, "read_burst": BURST}


async def setup(make_server: ServerFactory, **sections: dict[str, Any]) -> App:
    app = await make_server(limits=SLOW, **sections)
    assert app.core is not None
    for name in ("alice", "bob", "carol"):
        await app.core.accounts.register(name, PASSWORD)
    async with http_client(app) as c:
        for name in ("alice", "bob", "carol"):  # members of the lobby, cursors at its start
            assert (await c.get(f"/receive/lobby/{name}", auth=basic(name))).status_code == 200
        for i in range(250):
            r = await c.post("/send/lobby/alice", content=f"m{i}", auth=basic("alice"))
            assert r.status_code == 201
    return app


async def history_client(app: App, name: str) -> RawIrc:
    """An IRC client of `name` in #lobby that asks for history with CHATHISTORY."""
    irc = await RawIrc.connect(app)
    irc.send("CAP LS 302", "CAP REQ :batch server-time message-tags draft/chathistory")
    irc.send(f"PASS {name}:{PASSWORD}")
    await irc.register(name)
    irc.send("JOIN #lobby")
    await irc.expect(" 366 ")
    return irc


async def test_parallel_history_pages_get_the_budget_and_no_more(
    make_server: ServerFactory,
) -> None:
    app = await setup(make_server)
    async with http_client(app) as c:
        pages = await asyncio.gather(
            *(
                c.get("/api/v1/rooms/lobby/messages", params={"limit": 100}, auth=basic("bob"))
                for _ in range(12)
            )
        )
        ok = [p for p in pages if p.status_code == 200]
        refused = [p for p in pages if p.status_code != 200]
        assert sum(len(p.json()["messages"]) for p in ok) == BURST  # 100 + 100 + 100
        assert len(ok) == 3 and {p.status_code for p in refused} == {429}
        assert all(float(p.headers["retry-after"]) > 0 for p in refused)
        assert "too many messages read" in refused[0].text
        # a budget is the reader's own: carol reads as before
        r = await c.get("/api/v1/rooms/lobby/messages", params={"limit": 100}, auth=basic("carol"))
        assert r.status_code == 200 and len(r.json()["messages"]) == 100

    # through the other doors too
    bob = await telnet(app, "bob")
    await command(bob, "/history 5", r"too many messages read")
    await bob.close()


async def test_a_receive_gets_what_is_left_and_a_refused_one_moves_no_cursor(
    make_server: ServerFactory,
) -> None:
    app = await setup(make_server)
    assert app.core is not None
    async with http_client(app) as c:
        r = await c.get("/api/v1/rooms/lobby/messages", params={"limit": 250}, auth=basic("bob"))
        assert len(r.json()["messages"]) == 250  # 50 left
        r = await c.get("/receive/lobby/bob", params={"limit": 100}, auth=basic("bob"))
        assert r.status_code == 200 and texts(r.json()) == [f"m{i}" for i in range(50)]
        cursor = await app.core.messaging.read_cursor("bob", "lobby")
        r = await c.get("/receive/lobby/bob", params={"limit": 100}, auth=basic("bob"))
        assert r.status_code == 429
        assert await app.core.messaging.read_cursor("bob", "lobby") == cursor  # nothing skipped
        r = await c.get("/receive/lobby/bob", params={"limit": 100, "wait": 5}, auth=basic("bob"))
        assert r.status_code == 429  # a long poll too, before it waits


async def test_a_long_poll_woken_after_the_budget_ran_out_still_answers(
    make_server: ServerFactory,
) -> None:
    """What a woken poll moved the cursor over is delivered: it is paid, never refused."""
    app = await setup(make_server)
    assert app.core is not None
    async with http_client(app) as c:
        r = await c.get("/receive/lobby/bob", params={"limit": 250}, auth=basic("bob"))
        assert len(r.json()["messages"]) == 250  # caught up; 50 left
        poll = asyncio.create_task(
            c.get("/receive/lobby/bob", params={"limit": 100, "wait": 30}, auth=basic("bob"))
        )
        async with asyncio.timeout(20):  # the poll waits (2 s were not always enough under load)
            while not app.core.subscriptions.listener_count("lobby"):
                assert not poll.done(), poll.result()
                await asyncio.sleep(0.01)
        assert not poll.done()
        r = await c.get("/api/v1/rooms/lobby/messages", params={"limit": 50}, auth=basic("bob"))
        assert len(r.json()["messages"]) == 50  # the budget is now empty
        r = await c.post("/send/lobby/alice", content="wake", auth=basic("alice"))
        assert r.status_code == 201
        answer = await poll
        if answer.status_code == 200:
            assert texts(answer.json()) == ["wake"]
        else:  # refused before it read: the message is still unread
            assert answer.status_code == 429
            assert await app.core.messaging.read_cursor("bob", "lobby") < r.json()["id"]


async def test_history_on_join_pays_through_every_door(make_server: ServerFactory) -> None:
    """The history shown on joining a room is a read like any other: a member re-entering
    a room (telnet's /join, a WebSocket's subscribe, an IRC JOIN) asks for no join rate,
    so unpaid it was a page of history as often as a client cared to ask."""
    app = await setup(make_server)  # history_on_join: 20
    bob = await telnet(app, "bob")  # in the lobby: its 20 newest, paid
    async with http_client(app) as c:
        for left in (250, BURST - 20 - 250):  # nothing left after these two
            r = await c.get(
                "/api/v1/rooms/lobby/messages", params={"limit": 250}, auth=basic("bob")
            )
            assert len(r.json()["messages"]) == left
    await command(bob, "/join other", r"you are in #other")
    await command(bob, "/join lobby", r"you are in #lobby")
    await command(bob, "/history 5", r"too many messages read")
    assert len([line for line in bob.seen if "<alice> m" in line]) == 20  # the login's only
    await bob.close()

    ws = await Ws.open(app, "bob")
    for _ in range(3):
        await ws.subscribe("lobby")
        await ws.send(type="unsubscribe", room="lobby")
        await ws.send(type="ping")
        await ws.next("pong")
    await ws.close()
    assert ws.texts() == []

    irc = await RawIrc.connect(app)
    irc.send(f"PASS bob:{PASSWORD}")
    await irc.register("bob")
    irc.send("JOIN #lobby", "CHATHISTORY LATEST #lobby * 5")
    await irc.expect("too many messages read")
    await irc.close()
    assert not [line for line in irc.lines if "PRIVMSG #lobby" in line]


async def test_chathistory_pays_on_parallel_connections(make_server: ServerFactory) -> None:
    """IRC's CHATHISTORY comes out of the same budget, one account on two connections at
    once gets no more than it, and a refusal is the command's FAIL (a client waits for the
    batch or the FAIL), not a notice. Their JOINs read no history (draft/chathistory: the
    client asks for it), so they pay nothing."""
    app = await setup(make_server)
    conns = []
    for _ in range(2):
        conns.append(await history_client(app, "bob"))
    for irc in conns:  # pipelined: 5 asks of 100 on each, both connections at once
        irc.send(*["CHATHISTORY LATEST #lobby * 100"] * 5, "PING :done")
    for irc in conns:
        await irc.expect("PONG")
    lines = [line for irc in conns for line in irc.lines]
    assert len([line for line in lines if "PRIVMSG #lobby" in line]) == BURST
    fails = [line for line in lines if "FAIL CHATHISTORY" in line]
    assert len(fails) == 10 - 3 and all("too many messages read" in f for f in fails)
    for irc in conns:
        await irc.close()


async def test_what_a_read_passes_over_is_paid_too(make_server: ServerFactory) -> None:
    """A history read filtered by sender (an ignored one) or by time reads on, batch after
    batch (up to 50 of them), for what it may show: it returned nothing and so paid nothing,
    however much it read, as often as asked. What it examined comes out of the budget now."""
    app = await setup(make_server)  # 250 messages from alice
    async with http_client(app) as c:
        r = await c.put("/api/v1/me/ignores/alice", auth=basic("bob"))
        assert r.status_code == 204, r.text
        answers = [
            await c.get("/api/v1/rooms/lobby/messages", params={"limit": 100}, auth=basic("bob"))
            for _ in range(4)
        ]
        assert [a.status_code for a in answers] == [200, 200, 429, 429]  # 250 + 50 of 300
        assert all(a.json()["messages"] == [] for a in answers[:2])

    # through IRC: messages before a time that comes before them all
    irc = await history_client(app, "carol")
    for _ in range(4):
        irc.send("CHATHISTORY BEFORE #lobby timestamp=2000-01-01T00:00:00.000Z 100")
    irc.send("PING :done")
    await irc.expect("PONG")
    await irc.close()
    fails = [line for line in irc.lines if "FAIL CHATHISTORY" in line]
    assert len(fails) == 2 and not [line for line in irc.lines if "PRIVMSG #lobby" in line]


async def test_a_guest_renamed_keeps_what_it_spent(make_server: ServerFactory) -> None:
    """A guest's budget is its name's: a NICK was a new name and so a full budget, as often
    as the guest cared to rename. What the old name spent comes along."""
    app = await setup(make_server, irc={"guests": True})
    gus = await RawIrc.connect(app)
    gus.send("CAP LS 302", "CAP REQ :batch server-time message-tags draft/chathistory")
    await gus.register("gus")
    gus.send("JOIN #lobby")
    await gus.expect(" 366 ")
    gus.send(*["CHATHISTORY LATEST #lobby * 100"] * 4)
    await gus.expect("too many messages read")  # 300 read, the fourth refused
    gus.send("NICK gus2", "CHATHISTORY LATEST #lobby * 100", "PING :done")
    await gus.expect(" NICK gus2")
    await gus.expect("PONG")
    await gus.close()
    assert len([line for line in gus.lines if "PRIVMSG #lobby" in line]) == BURST
    assert len([line for line in gus.lines if "too many messages read" in line]) == 2


async def test_parallel_receives_pay_for_what_they_passed_over(
    make_server: ServerFactory,
) -> None:
    """`GET /receive` paid only for what it returned: the ignored sender's messages it read
    past, and a page read again after another receive moved the cursor first, were free
    (tests/core/test_receive_budget.py makes that race happen). Parallel receives of one
    user now pay, together, for all they read."""
    app = await setup(make_server)  # 250 messages from alice; carol's cursor before them
    async with http_client(app) as c:
        assert (await c.put("/api/v1/me/ignores/alice", auth=basic("carol"))).status_code == 204

        async def receive() -> Any:
            return await c.get("/receive/lobby/carol", params={"limit": 100}, auth=basic("carol"))

        first = await receive()
        assert first.status_code == 200 and texts(first.json()) == []  # 250 read: 50 left
        for i in range(60):
            r = await c.post("/send/lobby/bob", content=f"b{i}", auth=basic("bob"))
            assert r.status_code == 201
        second = await asyncio.gather(*(receive() for _ in range(4)))
    got = [m for r in second if r.status_code == 200 for m in texts(r.json())]
    assert sorted(got, key=lambda t: int(t[1:])) == [f"b{i}" for i in range(50)]  # main: 60
    assert sorted(r.status_code for r in second)[-1] == 429
