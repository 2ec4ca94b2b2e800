"""What a telnet login writes to its socket, write by write, counted on the server's real
transport (a wrapper notes each `write` and passes it on): the end of a password's line (SGR
28, CRLF) leaves with the answer to it, not as a write of its own before the hash (on main: a
7-byte write in every login, one of its five), and still before anything else said to the
client, so a raw client's terminal never conceals the answer. A count, never a time."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from tests.conftest import ServerFactory
from tests.helpers.held_calls import HeldCall
from tests.helpers.telnet_client import TelnetClient
from torbit.frontends.telnet.session import REVEAL, TelnetSession

ENDED = REVEAL + b"\r\n"  # a password line's end as the server writes it
AYT = b"\xff\xf6"  # telnet's "Are You There", answered at once by the codec, mid-login


class Noted:
    """A transport whose writes are noted, each as it was asked (the rest is the transport's)."""

    def __init__(self, transport: Any, writes: list[bytes]) -> None:
        self._transport = transport
        self.writes = writes

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def noted_writes(monkeypatch: pytest.MonkeyPatch) -> list[list[bytes]]:
    """Each telnet connection made from now on: the list of its server's writes."""
    connections: list[list[bytes]] = []
    real = TelnetSession.connection_made

    def made(session: TelnetSession, transport: asyncio.BaseTransport) -> None:
        connections.append([])
        real(session, cast(asyncio.BaseTransport, Noted(transport, connections[-1])))

    monkeypatch.setattr(TelnetSession, "connection_made", made)
    return connections


async def test_a_password_lines_end_leaves_with_its_answer(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server()
    assert app.telnet_port is not None and app.core is not None
    connections = noted_writes(monkeypatch)

    # a registration: the repeated password's end leaves with the welcome
    client = await TelnetClient.connect(app.telnet_port)
    await client.login("newcomer")
    await client.close()
    writes = connections[0]
    assert ENDED not in writes, writes  # never a write of its own
    answer = next(w for w in writes if b"Welcome, newcomer!" in w)
    assert answer.startswith(ENDED), writes

    # a wrong password, then the right one: each answer (the refusal and the prompt again,
    # then the welcome) leaves with the end of its line
    client = await TelnetClient.connect(app.telnet_port)
    await client.read_until("Name: ")
    client.send("newcomer")
    await client.read_until("Password: ")
    client.send("not-the-password")
    await client.read_until("Password: ")
    client.send("secret-pw")
    await client.expect(r"^\* you are in #")
    await client.close()
    writes = connections[1]
    assert ENDED not in writes, writes
    refusal = next(w for w in writes if b"Password: " in w and w.startswith(ENDED))
    assert b"!" in refusal, writes  # the refusal's error line, with the prompt again
    assert next(w for w in writes if b"Welcome" in w).startswith(ENDED), writes

    # while the hash is under way, anything said (here the codec's answer to AYT) comes
    # after the held end, so a raw client's terminal shows it
    held = HeldCall(monkeypatch, app.core.accounts, "authenticate", once=True)
    client = await TelnetClient.connect(app.telnet_port)
    await client.read_until("Name: ")
    client.send("newcomer")
    await client.read_until("Password: ")
    client.send("secret-pw")
    await held.until_reached()
    client.send_raw(AYT)
    await client.read_until("[yes]")
    held.let_go()
    await client.expect(r"^\* you are in #")
    await client.close()
    writes = connections[2]
    assert ENDED not in writes, writes
    yes = next(w for w in writes if b"[yes]" in w)
    assert yes.startswith(ENDED), writes
    assert not next(w for w in writes if b"Welcome" in w).startswith(ENDED), writes  # once
