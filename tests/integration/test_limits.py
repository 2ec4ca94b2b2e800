"""Abuse limits at the telnet door: floods, connection counts, password guessing, rooms."""

from __future__ import annotations

import re

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App


async def connect(app: App, name: str) -> TelnetClient:
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.login(name)
    return c


async def test_a_flood_is_cut_to_the_rate_with_a_notice(make_server: ServerFactory) -> None:
    app = await make_server(limits={"message_rate": 1, "message_burst": 5, "room_message_rate": 0})
    alice = await connect(app, "alice")
    bob = await connect(app, "bob")
    alice.send_raw(b"".join(f"flood {i}\r\n".encode() for i in range(50)))
    notice = (await alice.expect(r"^! slow down: \d+ message\(s\) over the rate limit")).string
    got = [line for line in await bob.lines_for(1.0) if "<alice> flood" in line]
    assert 5 <= len(got) <= 7, got
    assert got[0].endswith("flood 0")
    # a newcomer's paste lost its tail with no word of which lines, nor what to do
    told = re.fullmatch(
        r"! slow down: (\d+) message\(s\) over the rate limit were dropped: the last"
        r" (\d+) line\(s\) you sent; send them again in a few seconds",
        notice,
    )
    assert told is not None and told[1] == told[2], notice
    for c in (alice, bob):
        await c.close()


async def test_connections_per_address_are_limited(make_server: ServerFactory) -> None:
    app = await make_server(limits={"connections_per_ip": 2})
    assert app.telnet_port is not None
    a = await TelnetClient.connect(app.telnet_port)
    b = await TelnetClient.connect(app.telnet_port)
    await a.read_until("Name: ")
    await b.read_until("Name: ")
    c = await TelnetClient.connect(app.telnet_port)
    await c.expect("too many connections from your address")
    await c.lines_for(0.3)
    assert c.reader.at_eof()
    await a.close()
    await c.close()
    d = await TelnetClient.connect(app.telnet_port)  # a slot is free again
    await d.read_until("Name: ")
    for x in (b, d):
        await x.close()


async def test_password_guessing_backs_off_across_connections(make_server: ServerFactory) -> None:
    app = await make_server(limits={"login_free_attempts": 2})
    await (await connect(app, "victim")).close()
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.read_until("Name: ")
    c.send("victim")
    for _ in range(2):
        await c.read_until("Password: ")
        c.send("guess-guess")
        await c.expect("wrong name or password")
    await c.read_until("Password: ")
    c.send("guess-guess")
    await c.expect("too many failed attempts, bye")
    await c.close()
    c2 = await TelnetClient.connect(app.telnet_port)
    await c2.read_until("Name: ")
    c2.send("victim")
    await c2.read_until("Password: ")
    c2.send("secret-pw")  # even the right password waits out the back-off
    await c2.expect(r"too many failed logins: try again in \d+ s")
    await c2.close()


async def test_failed_login_with_closed_registration_does_not_reveal_names(
    make_server: ServerFactory,
) -> None:
    app = await make_server()
    await (await connect(app, "known")).close()
    await app.stop()
    app = await make_server(chat={"registration": "closed"})
    assert app.telnet_port is not None
    answers = []
    for name in ("known", "unknown"):
        c = await TelnetClient.connect(app.telnet_port)
        await c.read_until("Name: ")
        c.send(name)
        answers.append(await c.read_until("Password: "))
        c.send("wrong-password")
        answers.append((await c.expect("^!")).string)
        await c.close()
    assert answers[0].replace("known", "X") == answers[2].replace("unknown", "X")
    assert answers[1] == answers[3] == "! wrong name or password"


async def test_rooms_per_user(make_server: ServerFactory) -> None:
    app = await make_server(limits={"rooms_per_user": 2})
    alice = await connect(app, "alice")  # lobby is the first room
    alice.send("/join two")
    await alice.expect("you are in #two")
    alice.send("/join three")
    await alice.expect(r"^! you are in or own too many rooms \(limit 2\): /leave one first")
    await alice.close()
