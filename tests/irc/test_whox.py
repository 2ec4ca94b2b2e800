"""WHOX (ISUPPORT WHOX): `WHO mask %fields[,token]` answers each user with a 354 of the fields
asked for, in WHOX's order (tcuihsnfdlaor), whatever door the user is on: bots and clients
(WeeChat, HexChat, Sopel, Limnoria) ask it for accounts and away states. On main: no WHOX
token, and the fields were ignored (352 lines)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc
from tests.irc.test_doors import telnet_user
from torbit.app import App


def _params(line: str) -> list[str]:
    """A 354's fields: its parameters after the target nick."""
    middle, colon, trailing = line.split(" ", 3)[3].partition(" :")
    return middle.split() + ([trailing] if colon else [])


async def test_whox_gives_the_fields_asked_for_in_whox_order(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    await accounts("ivy")
    cool = await RawIrc.connect(app)
    cleanup.append(cool)
    cool.send("NICK cool", "USER myuser 0 * :My Real Name")
    await cool.expect(" 376 ")
    assert any(" 005 " in x and " WHOX " in x for x in cool.lines)
    cool.send("JOIN #wx")
    await cool.expect(" 366 ")
    ivy = await RawIrc.connect(app)
    cleanup.append(ivy)
    ivy.send(f"PASS ivy:{PASSWORD}", "NICK ivy", "USER ivy 0 * :Ivy Green", "JOIN #wx")
    await ivy.expect(" 366 ")
    await telnet_user(app, "tina", "wx", cleanup)

    cool.send("WHO ivy %rolaxdfnshiuct,123")  # any order; x is no field; a token
    got = _params(await cool.expect(" 354 "))
    server = app.settings.irc.server_name
    assert got[:9] == ["123", "*", "ivy", "255.255.255.255", "irc.torbit", server, "ivy", "H", "0"]
    assert got[9].isdigit()  # seconds idle
    assert got[10:] == ["ivy", "n/a", "Ivy Green"]  # the account, no op level, the real name
    assert (await cool.expect(" 315 ")).endswith(" 315 cool ivy :End of WHO list")

    start = len(cool.lines)
    cool.send("WHO #wx %nar,7")  # a channel: every member, on every door; a guest's account: 0
    await cool.expect(" 315 ")
    rows = sorted(_params(x) for x in cool.lines[start:] if " 354 " in x)
    assert rows == [["cool", "0", "My Real Name"], ["ivy", "ivy", "Ivy Green"],
                   ["tina", "tina", "tina"]], rows  # fmt: skip
    cool.send("WHO cool %tn,abcd")  # a token that is not 1-3 digits: 0
    assert _params(await cool.expect(" 354 ")) == ["0", "cool"]
    cool.send("WHO cool")  # without WHOX: 352 as before
    assert " 352 cool * ~myuser " in await cool.expect(" 352 ")
