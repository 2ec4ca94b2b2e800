"""A notice told to a room over the IRC door (a JOIN, a QUIT) is rendered once per distinct
set of enabled caps (and channel), not once per reader, as room messages are
(test_fanout_render.py): each reader still gets what its caps ask for (extended-join,
account-tag, away-notify), and a QUIT from a user sharing two rooms with a reader reaches
it once. Renders are counted (the real `notice_lines`, wrapped), never timed; on the
`ircdoor` branch every reader rendered its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc
from torbit.app import App
from torbit.core.delivery import Notice, NoticeKind
from torbit.frontends.irc import render


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[NoticeKind, str]]:
    """The kind and channel of every notice `render.notice_lines` renders, as it does."""
    seen: list[tuple[NoticeKind, str]] = []
    real: Callable[..., render.Rendered] = render.notice_lines

    def counted(notice: str, channel: str | None, **kwargs: Any) -> render.Rendered:
        if isinstance(notice, Notice):
            seen.append((notice.kind, notice.room or channel or ""))
        return real(notice, channel, **kwargs)

    monkeypatch.setattr(render, "notice_lines", counted)
    return seen


async def client(
    app: App, nick: str, cleanup: list[Any], caps: str = "", *rooms: str, password: str = ""
) -> RawIrc:
    """A client with `caps` enabled, in `rooms`."""
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    if caps:
        raw.send("CAP LS 302", f"CAP REQ :{caps}")
        await raw.expect(" ACK ")
    if password:
        raw.send(f"PASS {nick}:{password}")
    raw.send(f"NICK {nick}", f"USER {nick} 0 * :{nick.title()} Real", "CAP END")
    await raw.expect(" 376 ")
    for room in rooms:
        raw.send(f"JOIN #{room}")
        await raw.expect(f" 366 {nick} #{room} ")
    return raw


async def told(raw: RawIrc, command: str, since: int) -> list[str]:
    """The `command` lines about ivy this client was sent after its line `since`: one
    awaited, then all sent before its PING's answer."""

    def about_ivy() -> list[str]:
        return [
            line for line in raw.lines[since:] if ":ivy!ivy@" in line and f" {command} " in line
        ]

    while not about_ivy():
        await raw.expect(f" {command} ")
    raw.send("PING :sync")
    await raw.expect("PONG")
    return about_ivy()


async def test_a_join_is_rendered_once_per_cap_set_and_each_reader_gets_its_caps(
    app: App,
    accounts: Callable[..., Awaitable[None]],
    cleanup: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await accounts("ivy")
    plain = [await client(app, nick, cleanup, "", "nr") for nick in ("pat", "pam")]
    extended = [await client(app, n, cleanup, "extended-join", "nr") for n in ("eve", "ema")]
    away = await client(app, "ava", cleanup, "extended-join away-notify", "nr")
    tagged = await client(app, "tag", cleanup, "account-tag", "nr")
    ivy = await client(app, "ivy", cleanup, password=PASSWORD)
    ivy.send("AWAY :lunch")
    await ivy.expect(" 306 ")
    readers = [*plain, *extended, away, tagged]
    since = {id(raw): len(raw.lines) for raw in readers}
    renders = count_renders(monkeypatch)

    ivy.send("JOIN #nr")
    await ivy.expect(" 366 ivy #nr ")
    for raw in plain:
        assert await told(raw, "JOIN", since[id(raw)]) == [":ivy!ivy@irc.torbit JOIN #nr"]
        assert not [line for line in raw.lines[since[id(raw)] :] if " AWAY " in line]
    for raw in extended:
        assert await told(raw, "JOIN", since[id(raw)]) == [
            ":ivy!ivy@irc.torbit JOIN #nr ivy :Ivy Real"
        ]
        assert not [line for line in raw.lines[since[id(raw)] :] if " AWAY " in line]
    assert await told(away, "JOIN", since[id(away)]) == [
        ":ivy!ivy@irc.torbit JOIN #nr ivy :Ivy Real"
    ]
    assert await told(away, "AWAY", since[id(away)]) == [":ivy!ivy@irc.torbit AWAY lunch"]
    assert await told(tagged, "JOIN", since[id(tagged)]) == [
        "@account=ivy :ivy!ivy@irc.torbit JOIN #nr"
    ]
    # six readers, four cap sets: {}, {extended-join}, {extended-join, away-notify},
    # {account-tag} (one per reader: six)
    joins = [r for r in renders if r[0] is NoticeKind.JOIN]
    assert joins == [(NoticeKind.JOIN, "nr")] * 4, joins


async def test_a_quit_is_rendered_once_per_cap_set_and_room_and_told_once(
    app: App,
    accounts: Callable[..., Awaitable[None]],
    cleanup: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await accounts("ivy")
    ivy = await client(app, "ivy", cleanup, "", "q1", "q2", password=PASSWORD)
    both = await client(app, "pat", cleanup, "", "q1", "q2")
    one = await client(app, "pam", cleanup, "", "q1")
    tagged_both = await client(app, "tag", cleanup, "account-tag", "q1", "q2")
    tagged_one = await client(app, "tom", cleanup, "account-tag", "q2")
    readers = [both, one, tagged_both, tagged_one]
    since = {id(raw): len(raw.lines) for raw in readers}
    renders = count_renders(monkeypatch)

    ivy.send("QUIT :bye")
    quit = await told(both, "QUIT", since[id(both)])
    # one, not two; with the host ivy had (gone from the door's clients when it is told)
    assert quit == [":ivy!ivy@irc.torbit QUIT :Quit: bye"], quit
    assert await told(one, "QUIT", since[id(one)]) == quit
    for raw in (tagged_both, tagged_one):
        assert await told(raw, "QUIT", since[id(raw)]) == ["@account=ivy " + quit[0]]
    # per room, two cap sets ({}, {account-tag}) among its readers: four renders, where one
    # per reader and room was six
    quits = sorted(r[1] for r in renders if r[0] is NoticeKind.QUIT)
    assert quits == ["q1", "q1", "q2", "q2"], quits
