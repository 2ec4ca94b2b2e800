"""What a client reads of the channel modes agrees everywhere: RPL_MYINFO (004), which irssi
and others show and some bots read, lists every mode ISUPPORT's CHANMODES and PREFIX announce
and MODE takes (on main it said "binost" and "bo": no +k, +l, +m, +v), and HELP's MODE row
names them all (on main: only +o, +b and +i)."""

from __future__ import annotations

from typing import Any

from tests.helpers.irc import RawIrc
from torbit.app import App


async def test_myinfo_and_help_name_every_channel_mode(app: App, cleanup: list[Any]) -> None:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    await raw.register("foo")  # up to the end of the MOTD: every ISUPPORT line is in
    myinfo = next(x for x in raw.lines if x.split(" ")[1] == "004").split(" ")
    tokens = dict(
        t.partition("=")[::2] for x in raw.lines if x.split(" ")[1] == "005" for t in x.split(" ")
    )
    lists, always, when_set, flags = tokens["CHANMODES"].split(",")
    prefix_modes = set(tokens["PREFIX"][1:].split(")")[0]) - {"q"}  # owners are not set by MODE
    channel_modes, with_parameter = set(myinfo[6]), set(myinfo[7])
    assert channel_modes == set(lists + always + when_set + flags) | prefix_modes, myinfo
    assert with_parameter == set(lists + always + when_set) | prefix_modes, myinfo

    start = len(raw.lines)
    raw.send("HELP", "PING :sync")
    await raw.expect(" PONG torbit sync")
    helps = [x.split(" :", 1)[1] for x in raw.lines[start:] if " 705 " in x]
    at = next(i for i, text in enumerate(helps) if text.startswith("MODE "))
    row = helps[at]  # the MODE row goes on, indented, on the lines after it (100 columns)
    for more in helps[at + 1 :]:
        if not more.startswith(" "):
            break
        row += more
    for mode in sorted(channel_modes - {"s"}):  # +s is +i (docs/irc.md)
        assert f"+{mode}" in row or f"-{mode}" in row, (mode, row)
