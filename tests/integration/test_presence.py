"""Presence as the others see it on telnet: switching rooms is said as what it is, and a
reconnect within the grace period (a page reload, a dropped line) shows nothing."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient

PASSWORD = "secret-pw"


async def logged_in(port: int | None, name: str) -> TelnetClient:
    assert port is not None
    c = await TelnetClient.connect(port)
    await c.login(name, PASSWORD)
    return c


async def test_switching_rooms_is_not_leaving(make_server: ServerFactory) -> None:
    app = await make_server()
    alice, bob = await logged_in(app.telnet_port, "alice"), await logged_in(app.telnet_port, "bob")
    alice.send("/join Dev")
    await alice.expect(r"^\* you are in #Dev")
    await bob.expect(r"^\* alice went to another room \(still a member of #lobby\)$")
    assert not any("alice left" in ln for ln in bob.seen)
    await alice.close()
    await bob.close()


async def test_a_quick_reconnect_shows_nothing_to_others(make_server: ServerFactory) -> None:
    app = await make_server(chat={"presence_grace_seconds": 1.5})
    alice, bob = await logged_in(app.telnet_port, "alice"), await logged_in(app.telnet_port, "bob")
    await alice.expect(r"^\* bob joined #lobby$")  # a first arrival is announced
    await bob.close()
    bob = await logged_in(app.telnet_port, "bob")  # back at once
    quiet = await alice.lines_for(2.5)
    assert not [ln for ln in quiet if "bob" in ln], quiet

    await bob.close()  # gone for good: said once the grace period is over
    await alice.expect(r"^\* bob left #lobby$", timeout=5)
    await alice.close()
