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
