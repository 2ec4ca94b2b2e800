"""IRC words are split at ASCII spaces only: a no-break space is part of a word, in ISON's
nick list and CAP REQ's capability list (on main, `str.split()` split at it too, so
`ISON :foo\u00a0bar` answered `foo` and `CAP REQ :server-time\u00a0batch` was ACKed)."""

from __future__ import annotations

from typing import Any

from tests.helpers.irc import RawIrc
from torbit.app import App


async def reply_of(raw: RawIrc, line: str, code: str) -> str:
    start = len(raw.lines)
    raw.send(line, "PING :sync")
    await raw.expect(" PONG torbit sync")
    return next(x for x in raw.lines[start:] if x.split(" ")[1] == code)


async def test_ison_and_cap_req_split_at_ascii_spaces_only(app: App, cleanup: list[Any]) -> None:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    await raw.register("foo")
    ison = await reply_of(raw, "ISON :foo\u00a0bar", "303")
    assert ison.rstrip().endswith(" 303 foo :"), ison
    assert (await reply_of(raw, "ISON :bar foo", "303")).split(" ")[-1].lstrip(":") == "foo"
    cap = await reply_of(raw, "CAP REQ :server-time\u00a0batch", "CAP")
    assert " NAK " in cap, cap


async def test_a_nick_holding_a_no_break_space_is_told_which_character(
    app: App, cleanup: list[Any]
) -> None:
    """NICK with U+00A0 (leftovers): the 432 gave the nick rules alone (before registration)
    or "Erroneous nickname" (after), and the nick as shown looks valid. It now names the
    character, as the other doors do (core/names.py `check_name`)."""
    said = "Erroneous nickname: it holds U+00A0, a space that is not ASCII; use 1-32 letters"
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send("NICK \u00a0den")
    assert said in await raw.expect(" 432 ")
    await raw.register("den")
    raw.send("NICK den\u00a0x")
    assert said in await raw.expect(" 432 den ")
    raw.send("NICK 9lives")  # any other bad nick: the rules, on both sides of registration
    line = await raw.expect(" 432 den ")
    assert "Erroneous nickname: use 1-32 letters" in line and "U+" not in line, line
