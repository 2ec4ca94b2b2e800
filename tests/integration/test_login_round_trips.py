"""How many store statements a telnet login costs, counted on the real SQLite engine
(SQLAlchemy's cursor events) from the name prompt to being in the default room: a
registration and a returning user's login. A count, never a time; the revocation poll, which
runs on its own timer, is left out."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.statements import Statements
from tests.helpers.telnet_client import TelnetClient

# The login proper, then joining the default room (its room, the user's standing, the recent
# history; a first join also checks the rooms-per-user limit and adds the membership).
# A registration: the name looked up (its account or a look-alike, one query), looked up
# again when registering, the account inserted, then the user with their ignores: 4 (was 8).
NEW_USER = 4 + 6
# Returning: the name looked up, the password's hash read, the user with their ignores: 3
# (was 4: the user and the ignores were two reads).
RETURNING_USER = 3 + 3


async def logged_in(port: int, name: str) -> TelnetClient:
    client = await TelnetClient.connect(port)
    await client.login(name)
    return client


async def test_a_telnet_login_makes_few_store_round_trips(make_server: ServerFactory) -> None:
    app = await make_server(chat={"history_on_join": 5})
    assert app.telnet_port is not None and app.core is not None
    engine = app.core.store.engine  # type: ignore[attr-defined]
    first = await logged_in(app.telnet_port, "warm")  # the default room exists from now on
    await first.close()

    with Statements(engine, ignore=("revocations",)) as new:
        client = await logged_in(app.telnet_port, "newcomer")
    await client.close()
    with Statements(engine, ignore=("revocations",)) as returning:
        client = await logged_in(app.telnet_port, "newcomer")
    await client.close()
    assert len(new) == NEW_USER, new.seen
    assert len(returning) == RETURNING_USER, returning.seen
