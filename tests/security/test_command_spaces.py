"""A command's words are separated by ASCII spaces only, on telnet as on IRC: any other space
is part of what was typed. On main telnet split a command line at any Unicode space, so
`/join a\\u00a0b` joined room `a` with key `b` and `/msg bob\\u00a0x hi` told bob "x hi";
IRC's `CAP REQ` and `ISON` did the same within their parameter."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import http_client, register
from tests.helpers.telnet_client import TelnetClient
from torbit.protocol.commands import Syntax, parse_args, split_command, split_words


def test_only_ascii_spaces_split_words() -> None:
    assert split_command("/join a\u00a0b") == ("join", "a\u00a0b")
    assert split_command("/me waves\u3000 ") == ("me", "waves\u3000")  # the text as typed
    assert split_words("  a\u2003b  c\td  ") == ["a\u2003b", "c\td"]
    assert split_words("bob  hi \u00a0there ", 2) == ["bob", "hi \u00a0there"]
    assert split_words("", 2) == []
    assert parse_args(Syntax("ROOM [KEY]", 1, 2), "a\u00a0b") == ("a\u00a0b",)
    assert parse_args(Syntax("USER TEXT", 2, 2, rest=True), "bob\u00a0x hi") == ("bob\u00a0x", "hi")


async def test_telnet_takes_a_no_break_space_as_part_of_a_word(make_server: ServerFactory) -> None:
    app = await make_server()
    assert app.telnet_port is not None
    async with http_client(app) as http:
        await register(http, "wendy", "bob")
    bob = await TelnetClient.connect(app.telnet_port)
    await bob.login("bob")
    wendy = await TelnetClient.connect(app.telnet_port)
    await wendy.login("wendy")
    wendy.send("/join a")
    await wendy.expect(r"^\* you are in #a")
    wendy.send("/join lobby")
    await wendy.expect(r"^\* you are in #lobby")

    wendy.send("/join a\u00a0b")  # on main: room a, key b
    answer = await wendy.expect(r"^(\* you are in #\S+|! .*)")
    assert answer.group(0).startswith("! "), answer.group(0)
    wendy.send("/msg bob\u00a0x hello")  # on main: "x hello" to bob
    answer = await wendy.expect(r"^(! .*|.*\(private to bob\).*)")
    assert answer.group(0).startswith("! "), answer.group(0)
    wendy.send("/msg bob done")
    await bob.expect("done")
    assert not [line for line in bob.seen if "x hello" in line]
    for c in (wendy, bob):
        await c.close()
