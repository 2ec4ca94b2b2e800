"""A real server on ephemeral ports, real sockets: the telnet chat as people use it."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.frontends.flow import TransportWriter

LINE = r"^\[\d\d:\d\d:\d\d\] "


async def connect(app: App, name: str, password: str = "secret-pw") -> TelnetClient:
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.login(name, password)
    return c


async def test_register_then_log_in_again(server: App) -> None:
    assert server.telnet_port is not None
    c = await TelnetClient.connect(server.telnet_port)
    await c.read_until("Name: ")
    c.send("alice")
    await c.read_until("Choose a password: ")
    assert b"\xff\xfb\x01" in c.raw  # IAC WILL ECHO: the password is not echoed
    c.send("hunter22")
    await c.read_until("Repeat the password: ")
    c.send("hunter22")
    await c.expect("Welcome, alice")
    await c.expect(r"^\* you are in #lobby \(1 person here\)")
    await c.close()

    c2 = await TelnetClient.connect(server.telnet_port)
    await c2.read_until("Name: ")
    c2.send("ALICE")
    await c2.read_until("Password: ")
    c2.send("wrong-one")
    await c2.expect("^! wrong name or password")
    await c2.read_until("Password: ")
    c2.send("hunter22")
    await c2.expect("Welcome, alice")
    await c2.close()
    user = await server.core.accounts.get("alice")  # type: ignore[union-attr]
    assert user.password_hash.startswith("$argon2id$")


async def test_three_wrong_passwords_close_the_connection(server: App) -> None:
    await (await connect(server, "bob")).close()
    assert server.telnet_port is not None
    c = await TelnetClient.connect(server.telnet_port)
    await c.read_until("Name: ")
    c.send("bob")
    for _ in range(3):
        await c.read_until("Password: ")
        c.send("nope-nope")
    await c.expect("too many failed attempts")
    rest = await c.lines_for(2)
    assert c.reader.at_eof(), rest
    await c.close()


async def test_mismatched_repeat_asks_again(server: App) -> None:
    assert server.telnet_port is not None
    c = await TelnetClient.connect(server.telnet_port)
    await c.read_until("Name: ")
    c.send("carol")
    await c.read_until("Choose a password: ")
    c.send("abcdefg")
    await c.read_until("Repeat the password: ")
    c.send("abcdefX")
    await c.expect("do not match")
    await c.read_until("Choose a password: ")
    c.send("short")
    await c.expect("too short")
    await c.read_until("Choose a password: ")
    c.send("abcdefg")
    await c.read_until("Repeat the password: ")
    c.send("abcdefg")
    await c.expect("Welcome, carol")
    await c.close()


async def test_two_users_chat_with_timestamps_and_names(server: App) -> None:
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    await alice.expect(r"^\* bob joined #lobby")
    alice.send("hello bob")
    m = await bob.expect(LINE + r"<alice> hello bob$")
    assert re.match(r"^\[\d\d:\d\d:\d\d\] <alice> hello bob$", m.string)
    await alice.expect(LINE + r"<alice> hello bob$")  # the sender sees it too
    bob.send("/me waves")
    await alice.expect(LINE + r"\* bob waves$")
    await alice.close()
    await bob.close()


async def test_join_shows_history_and_rooms_are_case_insensitive(
    make_server: ServerFactory,
) -> None:
    app = await make_server(chat={"history_on_join": 3})
    alice = await connect(app, "alice")
    alice.send("/join Torbit-Room-1")
    await alice.expect(r"^\* you are in #Torbit-Room-1")
    for i in range(5):
        alice.send(f"message {i}")
    await alice.expect(LINE + "<alice> message 4$")
    bob = await connect(app, "bob")
    bob.send("/join torbit-room-1")
    await bob.expect(r"^\* you are in #Torbit-Room-1 \(2 people here\)")
    got = [await bob.expect(LINE + "<alice> message (\\d)$") for _ in range(3)]
    assert [g.group(1) for g in got] == ["2", "3", "4"]
    bob.send("/history 10")
    await bob.expect(r"last 5 messages")
    bob.send("/rooms")
    await bob.expect(r"#Torbit-Room-1  2 members, 2 in the room now")
    bob.send("/who")
    await bob.expect(r"here in #Torbit-Room-1 \(2\): alice, bob")
    await alice.close()
    await bob.close()


async def test_rooms_may_be_named_as_the_door_shows_them_with_a_hash(server: App) -> None:
    """The door prints rooms as `#name`; typing them back that way works, and only one `#`
    is taken off (`##x` is still an invalid name, not room `#x`)."""
    c = await connect(server, "alice")
    c.send("/join #Dev")
    await c.expect(r"^\* you are in #Dev \(1 person here\)")
    c.send("/create #ops")
    await c.expect(r"^\* you created #ops$")
    await c.expect(r"^\* you are in #ops")
    c.send("/rooms #Dev")
    await c.expect(r"^\* 2 rooms after #Dev:$")
    await c.expect(r"^  #lobby ")
    await c.expect(r"^  #ops ")
    c.send("/rooms ops")
    await c.expect(r"^\* no rooms after #ops$")  # was "* 0 room(s) after #ops:"
    c.send("/history")
    await c.expect(r"^\* no messages to show in #ops$")  # was "* last 0 message(s) of #ops:"
    c.send("/leave #dev")
    await c.expect(r"^\* you left #Dev;")
    c.send("/join ##x")
    await c.expect(r"^! invalid room name '#x'")
    await c.close()


async def test_private_messages_reach_another_room(server: App) -> None:
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    bob.send("/join elsewhere")
    await bob.expect(r"you are in #elsewhere")
    alice.send("/msg Bob psst, secret")
    await bob.expect(LINE + r"\(private\) <alice> psst, secret$")
    await alice.expect(LINE + r"\(private to bob\) <alice> psst, secret$")
    alice.send("/msg nobody-here hi")
    await alice.expect("^! no such user")
    await alice.close()
    await bob.close()


async def test_several_sessions_of_one_user_all_receive(server: App) -> None:
    a1 = await connect(server, "alice")
    a2 = await connect(server, "alice")
    bob = await connect(server, "bob")
    bob.send("hi both")
    await a1.expect("<bob> hi both")
    await a2.expect("<bob> hi both")
    for c in (a1, a2, bob):
        await c.close()


async def test_ignore_live_history_private_and_persistent(make_server: ServerFactory) -> None:
    app = await make_server()
    alice = await connect(app, "alice")
    bob = await connect(app, "bob")
    bob.send("before the ignore")
    await alice.expect("<bob> before the ignore")
    alice.send("/ignore bob")
    await alice.expect("you now ignore bob")
    bob.send("you cannot see this")
    bob.send("/msg alice nor this")
    bob.send("/me nor this action")
    await bob.expect("<bob> you cannot see this")
    carol = await connect(app, "carol")
    carol.send("but carol is seen")
    await alice.expect("<carol> but carol is seen")
    alice.send("/history")
    await alice.expect("message")
    lines = await alice.lines_for(0.5)
    seen = "\n".join(alice.seen + lines)
    assert "before the ignore" in seen
    assert "cannot see" not in seen and "nor this" not in seen
    alice.send("/ignored")
    await alice.expect("you ignore: bob")
    await alice.close()
    # a new session after a restart still ignores bob, also in the join history
    await app.stop()
    app2 = await make_server()  # same data dir
    alice2 = await connect(app2, "alice")
    await alice2.expect("<carol> but carol is seen")
    alice2.send("/ignored")
    await alice2.expect("you ignore: bob")
    assert not any("cannot see" in line for line in alice2.seen)
    alice2.send("/unignore bob")
    await alice2.expect("you no longer ignore bob")
    await alice2.close()
    for c in (bob, carol):
        await c.close()


async def test_unknown_commands_and_wrong_arguments(server: App) -> None:
    c = await connect(server, "alice")
    c.send("/frobnicate")
    await c.expect(r"^! unknown command /frobnicate: type /help")
    c.send("/join")
    await c.expect(r"^! usage: /join ROOM \[KEY\]$")
    c.send("/join bad name! more")  # on main the bare usage: why three words are wrong?
    await c.expect(r"^! usage: /join ROOM \[KEY\]: a room name has no spaces$")
    c.send("/join my room now")
    await c.expect(r"^! usage: /join ROOM \[KEY\]: a room name has no spaces$")
    c.send("/leave my room")
    await c.expect(r"^! usage: /leave \[ROOM\]: a room name has no spaces$")
    c.send("/kick")  # too few words: the usage alone
    await c.expect(r"^! usage: /kick USER \[REASON\]$")
    c.send("/join bad!name")
    await c.expect(r"^! invalid room name")
    c.send("/help")
    await c.expect(r"/ignore USER")
    c.send("/quit")
    await c.expect(r"^\* bye")
    await c.lines_for(1)
    assert c.reader.at_eof()
    await c.close()


async def test_pipelined_lines_reach_everyone_in_order_as_one_run(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines that arrive together are committed together and handed to the telnet sessions as
    one run (core.hub.Hub.dispatch_run), those who ignore no one in one call (FlushQueue's
    `fan_run`: no write per session): all of them, in order, and none to a session that
    ignores the sender."""
    app = await make_server()
    writes: list[bytes] = []
    real = TransportWriter.write

    def counted(self: TransportWriter, data: bytes) -> None:
        if b"<bob> line" in data:
            writes.append(data)
        real(self, data)

    monkeypatch.setattr(TransportWriter, "write", counted)
    assert app.core is not None
    alice, carol, bob = [await connect(app, n) for n in ("alice", "carol", "bob")]
    carol.send("/ignore bob")
    await carol.expect("you now ignore bob")
    n = 40
    subs = app.core.subscriptions
    delivered = subs.delivered
    bob.send_raw(b"".join(f"line {i}\r\n".encode() for i in range(n)))
    for c in (alice, bob):
        for i in range(n):
            m = await c.expect(r"<bob> line (\d+)$")
            assert int(m.group(1)) == i
    assert not any("line" in x for x in await carol.lines_for(0.3))
    assert subs.delivered - delivered == 2 * n  # alice and bob's own echo, never carol
    assert writes == [], writes  # every line left through the fan
    for c in (alice, carol, bob):
        await c.close()


async def test_a_key_given_to_a_room_without_one_is_pointed_out(server: App) -> None:
    """`/join plans s3cret` on a new room created it open to everyone, and said nothing of the
    key it was given. Then (attack10) `/join bad room!`, a room name with a space, created
    #bad with `room!` taken as its key: a KEY for a room that does not exist now creates
    nothing, and the reply gives both readings; an existing room without a key is joined and
    the word said unused."""
    alice = await connect(server, "alice")
    alice.send("/join bad room!")
    await alice.expect(
        r"^! no such room #bad, so 'room!' cannot be its key: /join bad creates it"
        r" \(then /set key KEY\); a room name has no spaces$"
    )
    alice.send("/rooms")
    await alice.expect(r"rooms?:$")
    assert not [line for line in await alice.lines_for(0.3) if "#bad" in line]
    alice.send("/join plans s3cret")
    await alice.expect(r"^! no such room #plans, so 's3cret' cannot be its key")
    alice.send("/join plans")
    await alice.expect(r"^\* you are in #plans")
    alice.send("/join lobby now")  # an existing room without a key: joined, the word unused
    await alice.expect(r"^\* you are in #lobby")
    await alice.expect(
        r"^\* #lobby has no join key, 'now' was not needed \(a room name has no spaces\):"
        r" room admins set one with /set key KEY$"
    )
    alice.send("/join plans")
    await alice.expect(r"^\* you are in #plans")
    alice.send("/set key s3cret")
    await alice.expect(r"key")
    bob = await connect(server, "bob")
    bob.send("/join plans s3cret")  # the right key: nothing more to say
    await bob.expect(r"^\* you are in #plans")
    lines = await bob.lines_for(0.5)
    assert not [line for line in lines if "join key" in line]
    await alice.close()
    await bob.close()


async def test_a_double_slash_sends_a_line_that_begins_with_a_slash(server: App) -> None:
    """The web page sends '//shrug' as '/shrug'; telnet answered "! unknown command //shrug"
    and had no way to say a line beginning with '/'. Now it does the same, pasted or not."""
    bob = await connect(server, "bob")
    zoe = await connect(server, "zoe")
    zoe.send("//shrug")
    await bob.expect(LINE + r"<zoe> /shrug$")
    zoe.send("first line\r\n//etc/hosts is where\r\n/me nods")
    await bob.expect(LINE + r"<zoe> first line$")
    await bob.expect(LINE + r"<zoe> /etc/hosts is where$")
    await bob.expect(LINE + r"\* zoe nods$")
    zoe.send("/help")
    await zoe.expect(r"^\* any other line is a message to the current room; //text sends /text$")
    await bob.close()
    await zoe.close()
