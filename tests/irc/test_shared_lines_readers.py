"""The IRC door keeps a message's (or a pipelined run's) lines by the reader's enabled caps
and target, and a notice's by caps and channel (render.LineCache): rendered once, shared by
every reader with the same. Attacked for what differs per reader (attack9): two pipelining
senders (an account and a guest) to readers of six cap sets, one of them ignoring the
account, the account's own two clients (with and without echo-message), a cap dropped
mid-session and a NICK between two runs. Every reader's every line is checked exactly."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, joined
from torbit.app import App

RUN = 8
TIME = r"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


async def said(raw: RawIrc, token: str, since: int) -> list[str]:
    """The PRIVMSG and NICK lines sent to the client after its line `since`, up to its PING's answer."""
    raw.send(f"PING :{token}")
    await raw.expect(f"PONG torbit {token}")
    return [line for line in raw.lines[since:] if " PRIVMSG #gen " in line or " NICK " in line]


def expected(source: str, texts: list[str], tags: Callable[[int], str]) -> list[str]:
    return [f"{tags(i)}:{source} PRIVMSG #gen :{t}" for i, t in enumerate(texts)]


async def test_each_reader_gets_exactly_its_own_lines_from_shared_renderings(
    app: App, accounts: Callable[..., Awaitable[None]]
) -> None:
    await accounts("ivy")
    ivy = await joined(
        app,
        "ivy",
        "gen",
        caps="echo-message server-time message-tags account-tag",
        password=PASSWORD,
    )
    ivy2 = await joined(app, "ivy", "gen", password=PASSWORD)
    gus = await joined(app, "gus", "gen")
    pat = await joined(app, "pat", "gen")
    ann = await joined(app, "ann", "gen", caps="server-time")
    bob = await joined(app, "bob", "gen", caps="account-tag")
    cat = await joined(app, "cat", "gen", caps="userhost-in-names multi-prefix message-tags")
    dan = await joined(app, "dan", "gen", caps="server-time")
    dan.send("SILENCE +ivy")
    await dan.expect(" SILENCE +ivy!*@*")
    readers = {
        "ivy": ivy,
        "ivy2": ivy2,
        "gus": gus,
        "pat": pat,
        "ann": ann,
        "bob": bob,
        "cat": cat,
        "dan": dan,
    }
    marks = {name: len(r.lines) for name, r in readers.items()}

    mine = [f"ivy says {i}" for i in range(RUN)]
    his = [f"gus says {i}" for i in range(RUN)]
    ivy.send(*[f"PRIVMSG #gen :{t}" for t in mine])
    gus.send(*[f"PRIVMSG #gen :{t}" for t in his])
    for t in his:
        await pat.expect(t)
    for t in mine:
        await bob.expect(t)
    ann.send("CAP REQ :-server-time")
    await ann.expect(" ACK ")
    gus.send("NICK Gus")
    await pat.expect(" NICK Gus")
    later = [f"Gus again {i}" for i in range(RUN)]
    gus.send(*[f"PRIVMSG #gen :{t}" for t in later])
    for name, r in readers.items():
        if name != "gus":  # no echo-message: not shown its own
            await r.expect("Gus again 7")

    got = {name: await said(r, name, marks[name]) for name, r in readers.items()}
    IVY, GUS, GUS2 = "ivy!ivy@irc.torbit", "gus!~gus@irc.torbit", "Gus!~gus@irc.torbit"
    nick = [f":{GUS} NICK Gus"]

    def split(lines: list[str]) -> tuple[list[str], list[str], list[str]]:
        """A reader's lines from ivy, from gus before the NICK (the two runs may interleave),
        and the rest in order."""
        cut = lines.index(nick[0]) if nick[0] in lines else len(lines)
        before = lines[:cut]
        return ([x for x in before if IVY in x], [x for x in before if GUS in x], lines[cut:])

    for name, lines in got.items():
        from_ivy, from_gus, rest = split(lines)
        tagged_time = name in ("ivy", "dan", "ann")
        if name == "ivy":  # echo-message, every tag: account=ivy (the guest has none)
            assert all(re.match(rf"@{TIME};msgid=gen-\d+;account=ivy :", x) for x in from_ivy), (
                from_ivy
            )
            assert all(re.match(rf"@{TIME};msgid=gen-\d+ :", x) for x in from_gus + rest[1:]), lines
        elif name == "bob":
            assert from_ivy == expected(IVY, mine, lambda i: "@account=ivy "), from_ivy
            assert from_gus == expected(GUS, his, lambda i: ""), from_gus
        elif name == "cat":
            assert all(re.match(r"@msgid=gen-\d+ :", x) for x in from_ivy + from_gus + rest[1:]), (
                lines
            )
        elif tagged_time:
            assert all(re.match(rf"@{TIME} :", x) for x in from_ivy + from_gus), (name, lines)
        else:
            assert from_ivy == expected(IVY, mine, lambda i: ""), (name, from_ivy)
            assert from_gus == (expected(GUS, his, lambda i: "") if name != "gus" else []), name
        texts = [x.split(" PRIVMSG #gen :", 1)[1] for x in from_ivy]
        assert texts == ([] if name == "dan" else mine), (name, texts)  # dan ignores ivy
        assert [x.split(" PRIVMSG #gen :", 1)[1] for x in from_gus] == (
            his if name != "gus" else []
        ), (name, from_gus)
        assert rest[:1] == nick, (name, rest)
        after = rest[1:]
        assert [x.split(" PRIVMSG #gen :", 1)[1] for x in after] == (
            later if name != "gus" else []
        ), (name, after)
        assert all(f":{GUS2} PRIVMSG" in x for x in after), after
        if name == "ann":  # server-time dropped before the second run
            assert all(x.startswith(f":{GUS2} ") for x in after), after
