"""Replies too long for IRC's 512-byte line, with real clients, with and without message tags.

On main the IRC door dropped such a line whole, with only a log warning (`output.send`): a
real name of 124 four-byte characters (one `USER` line's worth) took the extended-join
`JOIN`, `SETNAME`, `WHO`, WHOX, `WHOIS` and `WHOWAS` lines about that user away from
everyone, and a `PART` or `QUIT` reason that filled its own line did not fit once the
parter's `nick!user@host` was put before it, so the others never saw the user leave. Now the
last parameter is cut at a character boundary, and text from another door is split over
several PRIVMSGs, nothing lost."""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, http_client, register
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.protocol.irc import MAX_BODY_BYTES, MAX_TAG_BYTES, Message, MessageReceived, parse_line

GOTHIC = "\U00010348"  # 𐍈, four bytes of UTF-8
AHSA = "\U00010330"  # 𐌰
TAGGED = "extended-join setname away-notify account-tag message-tags server-time"
PLAIN = "extended-join setname"
GUARD = 10.0  # a hang guard, not a timing threshold


async def client(
    app: App, nick: str, caps: str, *, real: str = "real", account: bool = False
) -> RawIrc:
    raw = await RawIrc.connect(app)
    raw.send("CAP LS 302", f"CAP REQ :{caps}")
    if account:
        raw.send(f"PASS {nick}:{PASSWORD}")
    raw.send(f"NICK {nick}", f"USER {nick} 0 * :{real}", "CAP END")
    await lines_until(raw, b" 376 ")
    return raw


def check(line: bytes) -> Message:
    """A received line as a message, after checking it is one: strict UTF-8 (no character
    split), at most 512 bytes after its tags, CR LF included."""
    assert line.endswith(b"\r\n"), line
    line.decode("utf-8")
    body = line.split(b" ", 1)[1] if line[:1] == b"@" else line
    assert len(body) <= MAX_BODY_BYTES, (len(body), line)
    event = parse_line(line[:-2], max_tag_bytes=MAX_TAG_BYTES)
    assert isinstance(event, MessageReceived), event
    return event.message


async def lines_until(raw: RawIrc, needle: bytes) -> list[Message]:
    """The lines received up to the first one holding `needle`, each checked."""
    out: list[Message] = []
    async with asyncio.timeout(GUARD):
        while True:
            line = await raw.reader.readline()
            if not line:
                raise EOFError(f"closed while waiting for {needle!r}")
            out.append(check(line))
            if needle in line:
                return out


async def ask(raw: RawIrc, *lines: str) -> list[Message]:
    """The answers to `lines`: everything up to the PONG of a PING sent after them."""
    raw.send(*lines, "PING :asked")
    return await lines_until(raw, b"asked")


def shown(text: str, whole: str) -> str:
    """`text`, checked to be a long start of `whole`, cut (shorter) or not."""
    assert whole.startswith(text) and len(text) > 100, (text, whole)
    return text


async def test_a_long_real_name_is_cut_in_every_line_that_shows_it(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc={"guests": True})
    async with http_client(app) as http:
        await register(http, "foo")
    tagged = await client(app, "bar", TAGGED)
    plain = await client(app, "baz", PLAIN)
    for watcher in (tagged, plain):
        watcher.send("JOIN #r")
        await lines_until(watcher, b" 366 ")
    real = GOTHIC * 124  # "USER foo 0 * :" and it: a full line
    foo = await client(app, "foo", PLAIN, real=real, account=True)
    foo.send("JOIN #r")
    await lines_until(foo, b" 366 ")
    for watcher, tags in ((tagged, {"account": "foo"}), (plain, {})):
        join = (await lines_until(watcher, b":foo!foo@irc.torbit JOIN #r"))[-1]
        assert join.source is not None and join.source.startswith("foo!")
        assert join.params[:2] == ("#r", "foo") and dict(join.tags) == tags
        assert shown(join.params[2], real) != real  # cut: it did not fit

    answers = await ask(plain, "WHO #r", "WHO foo %tcuhnr,7", "WHOIS foo")
    who = [m for m in answers if m.command == "352" and m.params[5] == "foo"]
    whox = [m for m in answers if m.command == "354"]
    whois = [m for m in answers if m.command == "311"]
    assert len(who) == len(whox) == len(whois) == 1, answers
    shown(who[0].params[-1].removeprefix("0 "), real)
    assert whox[0].params[:2] == ("baz", "7") and whox[0].params[-2] == "foo"
    shown(whox[0].params[-1], real)
    assert whois[0].params[1] == "foo"
    shown(whois[0].params[-1], real)

    new = AHSA * 124  # "SETNAME :" and it: a full line
    foo.send(f"SETNAME :{new}")
    for watcher in (tagged, plain, foo):
        line = (await lines_until(watcher, b" SETNAME "))[-1]
        assert line.source is not None and line.source.startswith("foo!")
        assert shown(line.params[0], new) != new

    foo.send("QUIT :bye")
    await lines_until(plain, b" QUIT ")
    answers = await ask(plain, "WHOWAS foo")
    [was] = [m for m in answers if m.command == "314"]
    assert was.params[1] == "foo"
    shown(was.params[-1], new)
    for c in (tagged, plain, foo):
        await c.close()


async def test_part_and_quit_reasons_that_fill_a_line_are_cut_not_lost(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc={"guests": True})
    async with http_client(app) as http:
        await register(http, "foo")
    tagged = await client(app, "bar", TAGGED)
    plain = await client(app, "baz", PLAIN)
    foo = await client(app, "foo", PLAIN, account=True)
    for c in (tagged, plain, foo):
        c.send("JOIN #r")
        await lines_until(c, b" 366 ")
    part = "so long " + GOTHIC * 122  # "PART #r :" and it: a full line
    foo.send(f"PART #r :{part}")
    for watcher, tags in ((tagged, {"account": "foo"}), (plain, {})):
        line = (await lines_until(watcher, b" PART #r"))[-1]
        assert line.source is not None and line.source.startswith("foo!")
        assert dict(line.tags) == tags
        assert shown(line.params[1], part) != part

    foo.send("JOIN #r")
    for c in (tagged, plain):
        await lines_until(c, b" JOIN #r")
    why = "farewell " + GOTHIC * 122  # "QUIT :" and it: a full line
    foo.send(f"QUIT :{why}")
    for watcher, tags in ((tagged, {"account": "foo"}), (plain, {})):
        line = (await lines_until(watcher, b" QUIT "))[-1]
        assert line.source is not None and line.source.startswith("foo!")
        assert dict(line.tags) == tags
        reason = line.params[0].removeprefix("Quit: ")
        assert shown(reason, why) != why
    for c in (tagged, plain, foo):
        await c.close()


async def test_a_long_message_from_telnet_arrives_whole_in_several_lines(
    make_server: ServerFactory,
) -> None:
    """Not broken on main (render.message_lines splits), kept so: telnet takes lines of
    4,096 bytes, HTTP and WebSocket `chat.max_message_bytes` (4,096 too), eight IRC lines."""
    app = await make_server(irc={"guests": True})
    assert app.telnet_port is not None
    tagged = await client(app, "bar", TAGGED)
    plain = await client(app, "baz", PLAIN)
    for watcher in (tagged, plain):
        watcher.send("JOIN #lobby")
        await lines_until(watcher, b" 366 ")
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.login("w" * 32)
    text = ("word" + GOTHIC * 5 + "\u00e9 ") * 150 + "end"  # 4,053 bytes
    assert len(text.encode()) < 4096
    telnet.send(text)
    for watcher in (tagged, plain):
        lines = [m for m in await lines_until(watcher, b"end") if m.command == "PRIVMSG"]
        assert len(lines) >= 8
        assert "".join(m.params[1] for m in lines) == text
        assert all(m.params[0] == "#lobby" for m in lines)
        assert all(("time" in m.tags) == (watcher is tagged) for m in lines)
    for c in (tagged, plain):
        await c.close()
    await telnet.close()


async def test_a_notice_that_fits_its_sender_but_not_as_relayed_is_split_not_lost(
    make_server: ServerFactory,
) -> None:
    """A NOTICE that fits the sender's 512 bytes but not the readers' line (the sender's
    `nick!~ident@irc.torbit` comes before it) was dropped with no word: a NOTICE gets no
    error reply, so the 417 a PRIVMSG gets was not sent either. It is carried now, split for
    IRC readers, whole for the other doors; the PRIVMSG still gets 417 (sent again shorter)."""
    app = await make_server(irc={"guests": True})
    assert app.telnet_port is not None
    sender = await client(app, "n" * 32, PLAIN)
    reader = await client(app, "reader", TAGGED)
    for raw in (sender, reader):
        raw.send("JOIN #lobby")
        await lines_until(raw, b" 366 ")
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.login("tina")
    head = b"NOTICE #lobby :"
    text = "note " * ((510 - len(head)) // 5 - 1) + "end"
    assert len(head) + len(text) <= 510  # it fits the sender's own line
    sender.send(f"PRIVMSG #lobby :{text}")
    assert "417" in [m.command for m in await ask(sender)]
    sender.send(f"NOTICE #lobby :{text}")
    notices = [m for m in await lines_until(reader, b"end") if m.command == "NOTICE"]
    assert len(notices) == 2
    assert "".join(m.params[1] for m in notices) == text
    assert {m.source for m in notices} == {f"{'n' * 32}!~{'n' * 10}@irc.torbit"}  # USERLEN
    await telnet.expect(rf"-{'n' * 32}- note .* end$")
    for raw in (sender, reader):
        await raw.close()
    await telnet.close()
