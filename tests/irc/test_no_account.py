"""An IRC client connecting without an account (irssi without -w, as a newcomer tries first)
is told how to log in and, while registration is open, where an account is made: most
clients cannot send REGISTER. On main the 464 named only SASL and PASS."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc


async def _refusal(raw: RawIrc) -> str:
    raw.send("NICK newbie", "USER newbie 0 * :New", "CAP END")
    refusal = await raw.expect(" 464 ")
    await raw.expect("ERROR ")
    await raw.close()
    return refusal


async def test_without_an_account_the_refusal_says_where_to_get_one(
    make_server: ServerFactory,
) -> None:
    app = await make_server()
    said = await _refusal(await RawIrc.connect(app))
    assert said.endswith(
        ":Password required: log in with SASL PLAIN or PASS name:password; no account yet? "
        "REGISTER one, or register on telnet or the web page"
    ), said


async def test_with_registration_closed_it_does_not(make_server: ServerFactory) -> None:
    app = await make_server(chat={"registration": "closed"})
    said = await _refusal(await RawIrc.connect(app))
    assert said.endswith(":Password required: log in with SASL PLAIN or PASS name:password"), said
