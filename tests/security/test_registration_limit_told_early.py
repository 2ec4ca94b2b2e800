"""A newcomer on telnet from an address past `limits.registrations_per_address` (the README's
walk registers five accounts from 127.0.0.1: two on telnet, two with curl, one on the web
page) typed a new name, chose a password, repeated it, and only then was told "slow down"
and disconnected. The limit is now said at the name prompt, nothing charged, and the same
connection may still log in to an account that exists."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.security.conftest import ATTACKER, http_from, telnet_from


async def test_the_registration_limit_is_said_at_the_name_prompt(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"registrations_per_address": 2})
    async with http_from(app, ATTACKER) as client:
        await register(client, "alice", "bob")
    telnet = await telnet_from(app, ATTACKER)
    await telnet.read_until("Name: ")
    telnet.send("carol")
    refused = await telnet.expect(r"^! ")
    assert refused.string == (
        "! slow down: too many registrations from your address: try again in 30 min"
        " (2 an hour, server setting limits.registrations_per_address)"
    ), refused.string
    assert "Choose a password" not in "\n".join(telnet.seen)
    await telnet.read_until("Name: ")  # asked again: an existing account still logs in
    telnet.send("alice")
    await telnet.read_until("Password: ")
    telnet.send(PASSWORD)
    await telnet.expect("Welcome, alice!")
    await telnet.close()
