"""A returning telnet user is brought back to the room they left off in, told how many
messages came since, under the history a join shows (core/comeback.py). On main every login
landed in #lobby, wherever the user had been talking."""

from __future__ import annotations

import asyncio
import re

from tests.conftest import ServerFactory
from tests.helpers.http import basic, http_client
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

HISTORY = r"^\[\d\d:\d\d:\d\d\] <"


async def connect(app: App, name: str) -> TelnetClient:
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.login(name)
    return c


async def command(c: TelnetClient, line: str, reply: str) -> None:
    c.send(line)
    await c.expect(reply)


async def say(c: TelnetClient, name: str, *texts: str) -> None:
    for text in texts:
        c.send(text)
        await c.expect(rf"<{name}> {text}$")


async def gone(app: App, name: str, room: str, *, written: bool = True) -> None:
    """Until the server has seen the user's connection go (no session of theirs in it) and
    made its writes (the room it ended in, the read cursor: core/comeback.py)."""
    assert app.core is not None
    comeback = app.core.comeback
    while name in app.core.subscriptions.online(room) or (written and not comeback.idle):
        await asyncio.sleep(0.01)


async def left_den_to_bob(app: App) -> TelnetClient:
    """alice was in #den and has gone (her cursor and room written); bob is there now."""
    alice = await connect(app, "alice")
    await command(alice, "/join den", r"^\* you are (already )?in #den")
    await alice.close()
    await gone(app, "alice", "den")
    bob = await connect(app, "bob")
    await command(bob, "/join den", r"^\* you are (already )?in #den")
    return bob


async def landing(app: App, name: str) -> list[str]:
    """What a login shows from its room's "you are in" line on, times taken out of the
    history lines (`[hh:mm:ss] <bob> hi` is `<bob> hi`)."""
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.read_until("Name: ")
    c.send(name)
    await c.read_until("Password: ")
    c.send("secret-pw")
    await c.expect("^Welcome")
    c.send("/ignored")  # answered after everything the login said
    lines: list[str] = []
    while not (line := (await c.expect(".*")).group(0)).startswith("* you ignore"):
        lines.append(re.sub(HISTORY, "<", line))
    await c.close()
    return lines


async def test_back_in_the_room_left_off_in_with_the_count_of_what_came_since(
    server: App,
) -> None:
    alice = await connect(server, "alice")
    await command(alice, "/join Den", r"^\* you are (already )?in #Den \(1 person here\)$")
    await say(alice, "alice", "see you later")
    await alice.close()
    await gone(server, "alice", "den")
    bob = await connect(server, "bob")
    await command(bob, "/join den", r"^\* you are (already )?in #Den \(1 person here\)$")
    await say(bob, "bob", "one", "two", "three")
    assert await landing(server, "alice") == [
        "* you are in #Den (2 people here)",
        "<alice> see you later",
        "<bob> one",
        "<bob> two",
        "<bob> three",
        "* back in #Den, where you left off: 3 new messages since",
    ]
    # read now: the next login has nothing new, and says so
    await gone(server, "alice", "den")
    assert (await landing(server, "alice"))[-1] == (
        "* back in #Den, where you left off: nothing new since"
    )
    await bob.close()


async def test_a_quick_reconnect_counts_what_came_while_it_was_away(server: App) -> None:
    """The read marker set as the connection went is written before the next login counts
    (a reconnect comes quicker than the queued write)."""
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    await command(alice, "/join den", r"^\* you are (already )?in #den")
    await command(bob, "/join den", r"^\* you are (already )?in #den")
    await say(bob, "bob", "before")
    await alice.expect("<bob> before$")
    await alice.close()
    await gone(server, "alice", "den", written=False)
    await say(bob, "bob", "after")
    lines = await landing(server, "alice")
    assert lines[-1] == "* back in #den, where you left off: 1 new message since"
    await bob.close()


async def test_more_missed_than_a_join_shows_says_how_to_see_the_rest(
    make_server: ServerFactory,
) -> None:
    server = await make_server(chat={"history_on_join": 2})
    bob = await left_den_to_bob(server)
    await say(bob, "bob", "1", "2", "3", "4")
    assert await landing(server, "alice") == [
        "* you are in #den (2 people here)",
        "<bob> 3",
        "<bob> 4",
        "* back in #den, where you left off: 4 new messages since (the last 2 above;"
        " /history 4 shows more)",
    ]
    await bob.close()


async def test_a_room_one_is_out_of_is_not_where_one_comes_back(server: App) -> None:
    """Banned (or kicked, or having left) while away: the default room, as for anyone."""
    carol = await connect(server, "carol")
    await command(carol, "/join den", r"^\* you are (already )?in #den")
    alice = await connect(server, "alice")
    await command(alice, "/join den", r"^\* you are (already )?in #den")
    await alice.close()
    await gone(server, "alice", "den")
    await command(carol, "/ban alice", r"^\* alice was banned from #den by carol$")
    lines = await landing(server, "alice")
    assert lines[0].startswith("* you are in #lobby ("), lines
    assert not any("back in" in line for line in lines), lines
    await carol.close()


async def test_a_first_login_lands_in_the_default_room_with_nothing_more_said(
    server: App,
) -> None:
    assert server.telnet_port is not None
    c = await TelnetClient.connect(server.telnet_port)
    await c.login("newcomer")
    c.send("/ignored")  # the next line: nothing was said under the join
    assert (await c.expect(".*")).group(0) == "* you ignore nobody"
    await c.close()


async def test_a_room_joined_on_the_web_page_is_where_telnet_comes_back_and_me_says_so(
    server: App,
) -> None:
    (await connect(server, "alice")).writer.close()
    await gone(server, "alice", "lobby")
    async with http_client(server) as client:
        auth = basic("alice")
        me = (await client.get("/api/v1/me", auth=auth)).json()
        assert me["last_room"] == "lobby"  # where her telnet session ended
        joined = await client.put("/api/v1/rooms/Attic/members/alice", auth=auth)
        assert joined.status_code == 200, joined.text
        assert (await client.get("/api/v1/me", auth=auth)).json()["last_room"] == "attic"
        left = await client.delete("/api/v1/rooms/attic/members/alice", auth=auth)
        assert left.status_code in (200, 204), left.text
        assert (await client.get("/api/v1/me", auth=auth)).json()["last_room"] == "lobby"
        await client.put("/api/v1/rooms/Attic/members/alice", auth=auth)
    await gone(server, "alice", "lobby")
    assert (await landing(server, "alice"))[0] == "* you are in #Attic (1 person here)"


async def test_the_default_room_is_said_only_with_something_new(server: App) -> None:
    """A user who stays in #lobby is not told "nothing new" at every login; what came while
    they were away is counted there too."""
    (await connect(server, "alice")).writer.close()
    await gone(server, "alice", "lobby")
    assert await landing(server, "alice") == ["* you are in #lobby (1 person here)"]
    await gone(server, "alice", "lobby")
    bob = await connect(server, "bob")
    await say(bob, "bob", "psst")
    assert (await landing(server, "alice"))[-1] == (
        "* back in #lobby, where you left off: 1 new message since"
    )
    await bob.close()


async def test_what_one_said_from_another_door_meanwhile_is_not_counted_as_new(
    server: App,
) -> None:
    """Alice, away from telnet, talks in #den from the web page; her count back on telnet
    is what the others said (stop 48's first hour: "2 new messages" were her own)."""
    bob = await left_den_to_bob(server)
    async with http_client(server) as client:
        for text in ("from the web", "me again"):
            sent = await client.post("/send/den/alice", content=text, auth=basic("alice"))
            assert sent.status_code == 201, sent.text
            await bob.expect(rf"<alice> {text}$")
    await say(bob, "bob", "welcome back")
    assert (await landing(server, "alice"))[-1] == (
        "* back in #den, where you left off: 1 new message since"
    )
    await bob.close()
