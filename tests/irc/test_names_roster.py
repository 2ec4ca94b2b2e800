"""The NAMES a JOIN answers with: each member's entry is looked up once and kept (dropped when
that user's clients here change), not once per joiner, so N joining one room no longer cost
O(N²) lookups (frontends/irc/roster.py); and the list stays complete and right: every member
once, the right masks after a member left and came back as someone else, 353 lines then 366,
none past 512 bytes. Lookups are counted (the server's `nick_of` and `mask_of`, wrapped),
never timed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.helpers.irc import RawIrc
from torbit.app import App
from torbit.protocol.irc import MAX_BODY_BYTES, IRCParser, Message, MessageReceived


def count_lookups(app: App, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Names the IRC door looks up how to show (`nick_of`, `mask_of`), as it does."""
    assert app.irc is not None
    seen: Counter[str] = Counter()
    for method in ("nick_of", "mask_of"):
        real: Callable[[str], str] = getattr(app.irc, method)

        def counted(name: str, real: Callable[[str], str] = real) -> str:
            seen[name] += 1
            return real(name)

        monkeypatch.setattr(app.irc, method, counted)
    return seen


async def guest(app: App, nick: str, *, caps: str = "", user: str = "") -> RawIrc:
    raw = await RawIrc.connect(app)
    if caps:
        raw.send("CAP LS 302", f"CAP REQ :{caps}")
        await raw.expect(" ACK ")
    raw.send(f"NICK {nick}", f"USER {user or nick} 0 * :{nick}", "CAP END")
    await raw.expect(" 376 ")
    return raw


async def names_on_join(raw: RawIrc, nick: str, channel: str) -> list[str]:
    """JOIN, then the entries of the 353 lines up to the 366 (which must follow them)."""
    raw.send(f"JOIN {channel}")
    await raw.expect(f" JOIN {channel}")
    start = len(raw.lines)
    await raw.expect(f" 366 {nick} {channel} ")
    lines = raw.lines[start:]
    assert all(f" 353 {nick} = {channel} " in line for line in lines[:-1]), lines
    assert lines and all(len(line.encode()) + 2 <= MAX_BODY_BYTES for line in lines)
    return [e for line in lines[:-1] for e in line.split(f" {channel} ", 1)[1].lstrip(":").split()]


async def test_each_members_entry_is_looked_up_once_not_once_per_joiner(
    app: App, monkeypatch: pytest.MonkeyPatch, cleanup: list[Any]
) -> None:
    seen = count_lookups(app, monkeypatch)
    nicks = [f"crowd{i:02d}" for i in range(16)]
    for i, nick in enumerate(nicks):
        raw = await guest(app, nick)
        cleanup.append(raw)
        # crowd00 made the room: its admin (a guest's room), shown with its prefix
        assert await names_on_join(raw, nick, "#big") == ["@crowd00", *nicks[1 : i + 1]]
    # each member looked up at most once for the 16 NAMES lists; on `stage` each joiner
    # looked up every member already there: crowd00 16 times, 136 lookups in all
    assert max(seen[n] for n in nicks) <= 2, seen
    assert sum(seen[n] for n in nicks) <= 2 * len(nicks), seen


async def test_names_stay_complete_and_right_as_members_leave_return_and_change(
    app: App,
    accounts: Callable[..., Awaitable[None]],
    cleanup: list[Any],
) -> None:
    masks = await guest(app, "masks", caps="userhost-in-names multi-prefix")
    cleanup.append(masks)
    first = [await guest(app, nick, user=f"u{nick}") for nick in ("amy", "bo", "cat")]
    cleanup.extend(first)
    for raw, nick in zip(first, ("amy", "bo", "cat"), strict=True):
        await names_on_join(raw, nick, "#room")
    assert await names_on_join(masks, "masks", "#room") == [
        "@amy!~uamy@irc.torbit",
        "bo!~ubo@irc.torbit",
        "cat!~ucat@irc.torbit",
        "masks!~masks@irc.torbit",
    ]
    # amy made the room (a guest's: its admin); cat leaves; a new cat (another ident) and dan come; bo becomes BO
    first[2].send("QUIT :bye")
    await first[2].expect("ERROR")
    cat = await guest(app, "cat", user="other")
    cleanup.append(cat)
    await names_on_join(cat, "cat", "#room")
    first[1].send("NICK BO")
    await first[1].expect(" NICK ")
    masks.send("PART #room")
    await masks.expect(" PART ")
    dan = await guest(app, "dan")
    cleanup.append(dan)
    assert await names_on_join(dan, "dan", "#room") == ["@amy", "BO", "cat", "dan"]
    assert await names_on_join(masks, "masks", "#room") == [
        "@amy!~uamy@irc.torbit",
        "BO!~ubo@irc.torbit",
        "cat!~other@irc.torbit",
        "dan!~dan@irc.torbit",
        "masks!~masks@irc.torbit",
    ]
    masks.send("NAMES #room")  # asked for: the same, complete, then 366
    await masks.expect(" 366 masks #room ")
    assert sum(" 353 " in line for line in masks.lines[-3:]) == 1


def test_namreply_lines_fit_512_bytes_and_read_as_message_encode_writes_them() -> None:
    from torbit.frontends.irc.roster import namreply_lines  # new here: the others run on stage

    head = ":torbit 353 somebody = #channel "
    entries = [f"{'@' if i % 7 == 0 else ''}member{i:04d}" for i in range(300)]
    data = namreply_lines(head, entries)
    parser = IRCParser()
    lines = data.split(b"\r\n")[:-1]
    assert len(lines) > 1 and all(len(line) + 2 <= MAX_BODY_BYTES for line in lines)
    got = [
        e
        for ev in parser.receive_data(data)
        if isinstance(ev, MessageReceived)
        for e in ev.message.params[-1].split()
    ]
    assert got == entries
    lone = namreply_lines(head, ["@solo"])
    assert lone == Message("353", ("somebody", "=", "#channel", "@solo"), "torbit").encode()
    assert namreply_lines(head, []) == b""


async def test_a_crowd_joining_one_room_is_not_walked_per_joiner(
    app: App, monkeypatch: pytest.MonkeyPatch, cleanup: list[Any]
) -> None:
    """Entries the door reads from what it keeps (its `shown` dicts, whole lists of names
    handed to them), summed over every JOIN of 40 joiners: on main each JOIN read every
    member (820 in all), growing with the room; now a crowded room's joined text is kept and
    each JOIN reads the one new member (the room counts as crowded from 8 here, not 256)."""
    from torbit.frontends.irc import roster as roster_module  # KEPT_FROM is new here

    monkeypatch.setattr(roster_module, "KEPT_FROM", 8, raising=False)
    read = 0
    for method in ("entries", "_local_entries"):
        real = getattr(roster_module.Roster, method, None)
        if real is None:
            continue

        def counted(self: Any, names: list[str], *args: Any, real: Any = real) -> Any:
            nonlocal read
            read += len(names)
            return real(self, names, *args)

        monkeypatch.setattr(roster_module.Roster, method, counted)
    nicks = [f"crowd{i:02d}" for i in range(40)]
    for i, nick in enumerate(nicks):
        raw = await guest(app, nick)
        cleanup.append(raw)
        assert await names_on_join(raw, nick, "#crowd") == ["@crowd00", *nicks[1 : i + 1]]
    first = cleanup[0]
    first.send("NAMES #crowd")  # asked again, nothing changed: the same, nothing read
    await first.expect(" 366 crowd00 #crowd ")
    assert first.lines[-2].split(" :", 1)[1].split() == ["@crowd00", *nicks[1:]]
    # 1 + 2 + ... + 7 below 8, the 8 when it became crowded, then one a joiner
    assert read <= 28 + 8 + 32, read
