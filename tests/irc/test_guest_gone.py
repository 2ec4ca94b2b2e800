"""A guest is gone with its QUIT, on every door: a private message to it from telnet, the
REST API or the WebSocket, sent once its QUIT was answered, gets "no such user" (404), as
IRC's PRIVMSG gets 401. The rule is the core's (`Messaging.send_private`, `Guests.leaving`).
On main only the IRC door waited for the departing nick; the others' messages landed
(201) in the guest's account while it was being deleted, lost to everyone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers.http import bearer, error_of, http_client, login
from tests.helpers.irc import RawIrc
from tests.irc.conftest import ws_expect, ws_user
from tests.irc.test_doors import telnet_user
from torbit.app import App

Accounts = Callable[..., Awaitable[None]]
GUESTS = 24  # departures are worked off a slice at a time: many leave the last ones waiting


async def test_messages_to_a_guest_that_quit_find_no_one(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("alice")
    tel = await telnet_user(app, "alice", "lobby", cleanup)
    ws = await ws_user(app, "alice")
    cleanup.append(ws)
    guests = [await RawIrc.connect(app) for _ in range(GUESTS)]
    for i, guest in enumerate(guests):
        cleanup.append(guest)
        await guest.register(f"gst{i}")
    async with http_client(app) as http:
        token = await login(http, "alice")
        for guest in guests:
            guest.send("QUIT :bye")
        for guest in guests:
            await guest.expect("ERROR")

        async def rest(i: int) -> int:
            r = await http.post(
                "/api/v1/private-messages",
                headers=bearer(token),
                json={"to": f"gst{i}", "text": "hello?"},
            )
            if r.status_code != 201:
                assert "no such user" in error_of(r, 404)
            return r.status_code

        tel.send(f"/msg gst{GUESTS - 1} hello?")
        await ws.send(json.dumps({"type": "private", "to": f"gst{GUESTS - 2}", "text": "hi?"}))
        codes = await asyncio.gather(*(rest(i) for i in reversed(range(GUESTS))))
    assert codes == [404] * GUESTS  # main: the last ones' were 201
    await tel.expect("no such user 'gst")
    error = await ws_expect(ws, "error")
    assert "no such user 'gst" in error["message"]


async def test_a_guest_account_with_no_session_anywhere_is_no_one(
    app: App, cleanup: list[Any]
) -> None:
    """A guest's account outlives its client for a moment (being deleted on its node), or
    for good when its node stopped without a goodbye: a guest online nowhere is no one,
    and a PRIVMSG to it gets 401. On main the message was taken and lost (the check was
    of this node's sessions only, and the guest had none here at all)."""
    assert app.core is not None
    await app.core.guests.admit("ghost")  # the account, as such a node leaves it
    foo = await RawIrc.connect(app)
    cleanup.append(foo)
    await foo.register("foo")
    foo.send("PRIVMSG ghost :are you there?", "PING :done")
    await foo.expect("PONG")  # commands are answered in order
    assert [line for line in foo.lines if " 401 foo ghost " in line], foo.lines[-3:]
