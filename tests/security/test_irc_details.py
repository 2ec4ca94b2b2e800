"""What an IRC client says of itself and others are shown: the ident (USER's first
parameter, in the source of every line the client sends) and the real name (USER's last,
SETNAME), in JOIN (extended-join), WHOIS, WHO, WHOWAS and SETNAME lines. On main both went
out as typed: a guest's real name drove the terminal of whoever looked it up (a clear screen,
a window title set by OSC, a bell, the 8-bit CSI, a right-to-left override, a line
separator) and its ident put `!` and `@` into its source, `foo!~x\\x1b[2J!@evi@irc.torbit`."""

from __future__ import annotations

import unicodedata

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from torbit.app import App

HOSTILE = "\x1b[2J\x1b]0;owned\x07\x9b31m\u202eevil\u2028[12:00:00] <admin> hi\x7f"


def unsafe(line: str) -> list[str]:
    """The characters of a received line (its CR LF removed) that could drive a terminal or
    reorder or break the line."""
    return [
        f"U+{ord(c):04X}" for c in line if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")
    ]


async def _client(app: App, nick: str, user: str) -> RawIrc:
    raw = await RawIrc.connect(app)
    raw.send("CAP LS 302", "CAP REQ :setname extended-join")
    assert " ACK " in await raw.expect(" ACK ")
    raw.send(f"NICK {nick}", user, "CAP END")
    await raw.expect(" 376 ")
    return raw


async def test_ident_and_real_name_are_shown_safely(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc={"guests": True})
    bar = await _client(app, "bar", "USER bar 0 * :Bar")
    bar.send("JOIN #r")
    await bar.expect(" 366 ")
    seen = len(bar.lines)
    foo = await _client(app, "foo", f"USER x\x1b[2J!@evil 0 * :{HOSTILE}")
    foo.send("JOIN #r")
    await foo.expect(" 366 ")
    joined = await bar.expect(" JOIN #r")
    assert joined.startswith(":foo!~x2Jevil@irc.torbit JOIN #r * ")  # name characters only
    assert "[12:00:00] <admin> hi" in joined  # the text is kept, only made harmless
    bar.send("WHOIS foo", "WHO #r")
    await bar.expect(" 315 ")
    foo.send(f"SETNAME :{HOSTILE[::-1]}")
    assert "FAIL" not in await foo.expect(" SETNAME ")
    await bar.expect(" SETNAME ")
    foo.send("SETNAME :\u202e\u200b\u2066", "PRIVMSG #r :still here")  # nothing to show
    assert "INVALID_REALNAME" in await foo.expect("FAIL SETNAME")
    assert (await bar.expect(" PRIVMSG #r ")).startswith(":foo!~x2Jevil@irc.torbit ")
    foo.send("QUIT :bye")
    await bar.expect(" QUIT ")
    bar.send("WHOWAS foo")
    await bar.expect(" 369 ")

    shown = bar.lines[seen:]
    for numeric in (" 311 ", " 352 ", " 314 "):  # WHOIS, WHO, WHOWAS
        assert [line for line in shown if numeric in line and " foo " in line], numeric
    assert {line: unsafe(line) for line in shown if unsafe(line)} == {}
    assert not [line for line in shown if "~x\x1b" in line or "!@evi" in line]


async def test_a_real_name_with_nothing_to_show_is_the_nick(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc={"guests": True})
    await _client(app, "baz", "USER !!! 0 * :\u202e\u200b")
    bar = await _client(app, "bar", "USER bar 0 * :Bar")
    bar.send("WHOIS baz")
    assert (await bar.expect(" 311 ")).endswith(" baz ~baz irc.torbit * baz")
