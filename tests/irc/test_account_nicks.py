"""An account whose name IRC would not take as a nick ('j.doe', '2fast': names may hold a '.'
and start with a digit) logged in only with some other NICK: `irssi -n j.doe -w j.doe:pw`, the
natural command, got `432 Erroneous nickname` and was let go. While a password is given (PASS,
or SASL requested) the nick may be any account name: it becomes the account's anyway. Without
one, a guest still needs a nick IRC allows."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, http_client, register
from tests.helpers.irc import RawIrc


async def test_an_account_named_j_dot_doe_logs_in_with_its_name_as_the_nick(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc={"guests": True})
    async with http_client(app) as client:
        await register(client, "j.doe", "2fast")
    for name in ("j.doe", "2fast"):
        raw = await RawIrc.connect(app)
        raw.send(f"PASS {name}:{PASSWORD}", f"NICK {name}", f"USER {name} 0 * :J")
        welcome = await raw.expect(" 001 ")
        assert welcome.startswith(f":{app.settings.irc.server_name} 001 {name} "), welcome
        raw.send("JOIN #lobby")
        await raw.expect(f":{name}!")
        await raw.close()
    guest = await RawIrc.connect(app)  # no password: a guest's nick follows IRC's rules
    guest.send("NICK j.doe", "USER j 0 * :J")
    refused = await guest.expect(" 432 ")
    assert "Erroneous nickname" in refused
    guest.send("NICK jdoe")
    await guest.expect(" 001 jdoe ")
    await guest.close()
