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
from tests.helpers.irc import RawIrc, joined
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await accounts("ivy")
    plain = [await joined(app, nick, "nr") for nick in ("pat", "pam")]
    extended = [await joined(app, n, "nr", caps="extended-join") for n in ("eve", "ema")]
    away = await joined(app, "ava", "nr", caps="extended-join away-notify")
    tagged = await joined(app, "tag", "nr", caps="account-tag")
    ivy = await joined(app, "ivy", password=PASSWORD, real="Ivy Real")
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await accounts("ivy")
    ivy = await joined(app, "ivy", "q1", "q2", password=PASSWORD, real="Ivy Real")
    both = await joined(app, "pat", "q1", "q2")
    one = await joined(app, "pam", "q1")
    tagged_both = await joined(app, "tag", "q1", "q2", caps="account-tag")
    tagged_one = await joined(app, "tom", "q2", caps="account-tag")
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
