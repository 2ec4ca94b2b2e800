"""Guests from one address in a loop (attack4, guests over IRC). A guest costs no password
hash: each connection that registers makes an account in the store (and, on several nodes,
a presence told to every node), and its QUIT deletes it. Only the open connections were
bounded (`limits.connections_per_ip`): connect, register, quit in a loop made and deleted
about a thousand accounts a second from one address. Guests admitted from one address are
now bounded too (`limits.guests_per_address` a minute, an IPv6 client by its /64): past it
the client is told why and closed before any account is made; other addresses go on."""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from torbit.app import App
from torbit.core.guests import NICK_TRIES

PER_ADDRESS = 5


async def guest_from(app: App, nick: str, address: str) -> RawIrc:
    assert app.irc_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.irc_port, local_addr=(address, 0)
    )
    irc = RawIrc(reader, writer)
    irc.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
    return irc


async def test_guests_from_one_address_are_bounded(make_server: ServerFactory) -> None:
    app = await make_server(irc={"guests": True}, limits={"guests_per_address": PER_ADDRESS})
    store = app.core.store if app.core is not None else None
    assert store is not None
    for i in range(PER_ADDRESS):  # each comes, registers and goes
        guest = await guest_from(app, f"g{i}", "127.0.0.1")
        await guest.expect(" 376 ")
        guest.send("QUIT :bye")
        await guest.expect("ERROR")
        await guest.close()
    refused = await guest_from(app, "late", "127.0.0.1")
    line = await refused.expect("ERROR")
    assert "too many guests from your address" in " ".join(refused.lines), refused.lines
    assert " 001 " not in " ".join(refused.lines) and line
    await refused.close()
    assert await store.get_user("late") is None
    other = await guest_from(app, "other", "127.0.0.2")  # another address
    await other.expect(" 376 ")
    await other.close()


async def test_a_nick_in_use_costs_no_admission(make_server: ServerFactory) -> None:
    """A client whose nick is taken tries another (433): those tries are not guests made."""
    app = await make_server(irc={"guests": True}, limits={"guests_per_address": 2})
    holder = await guest_from(app, "taken", "127.0.0.2")
    await holder.expect(" 376 ")
    late = await guest_from(app, "taken", "127.0.0.1")
    for _ in range(3):
        await late.expect(" 433 ")
        late.send("NICK taken")
    await late.expect(" 433 ")
    late.send("NICK free1")
    await late.expect(" 376 ")
    second = await guest_from(app, "free2", "127.0.0.1")  # the second of two a minute
    await second.expect(" 376 ")
    for client in (holder, late, second):
        await client.close()


async def test_taken_nicks_in_a_loop_are_bounded(make_server: ServerFactory) -> None:
    """A taken nick costs no admission, but each try is a write the store refuses: an
    unregistered client sending `NICK taken` again and again had every one tried, as fast as
    the store answered. Tries from one address are bounded (NICK_TRIES per guest a minute):
    past them the client is told why and closed; another address goes on."""
    app = await make_server(irc={"guests": True}, limits={"guests_per_address": 2})
    holder = await guest_from(app, "taken", "127.0.0.2")
    await holder.expect(" 376 ")
    looping = await guest_from(app, "taken", "127.0.0.1")
    tries = 2 * NICK_TRIES + 5
    for _ in range(tries):
        looping.send("NICK taken")
    await looping.expect("ERROR")
    said = " ".join(looping.lines)
    assert "too many nicks tried from your address" in said, looping.lines
    assert 2 * NICK_TRIES <= said.count(" 433 ") < tries, said.count(" 433 ")  # + refills
    await looping.close()
    other = await guest_from(app, "free", "127.0.0.3")
    await other.expect(" 376 ")
    for client in (holder, other):
        await client.close()
