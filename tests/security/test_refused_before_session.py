"""A connection the limits refuse costs no session (frontends/admission.py): a reconnect storm
refused by `limits.connection_rate` was refused 600-8,000 times a second, each an IRC session
built to write one line (attack14, churn: bench/JOURNAL.md). Counted here: sessions made,
refusals (the metric, the door's tally), the refusal's words on every refused socket, the
log lines the storm writes; several attacking addresses at once, and an honest user behind
an attacker's address (NAT), who is told why rather than left in silence."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.conftest import ServerFactory
from torbit.app import App
from torbit.frontends.irc.session import IrcSession
from torbit.frontends.telnet.session import TelnetSession

RATE = 0.1  # a token every 10 s: none comes back while the connections below are made
BURST = 3
HURRIED = b"too many new connections from your address"
CROWDED = b"too many connections from your address"


async def answer(port: int, address: str, irc: bool) -> bytes:
    """What a new connection from `address` is told first (IRC: asked with a PING, which is
    answered before registration), up to the login prompt, the PONG or the close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
    if irc:
        writer.write(b"PING :probe\r\n")
    got = b""
    async with asyncio.timeout(15):
        while not (b"Name: " in got or b"probe" in got):
            try:
                data = await reader.read(4096)
            except ConnectionResetError:
                break
            if not data:
                break
            got += data
    writer.close()
    return got


def count_sessions(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many sessions each door makes from here on."""
    made = {"telnet": 0, "irc": 0}
    for door, cls in (("telnet", TelnetSession), ("irc", IrcSession)):
        init = cls.__init__

        def counting(self: Any, *args: Any, _init: Any = init, _door: str = door) -> None:
            made[_door] += 1
            _init(self, *args)

        monkeypatch.setattr(cls, "__init__", counting)
    return made


def refused(app: App, door: str, limit: str) -> float:
    return float(app.metrics.refused_on(door, limit)._value.get())


async def test_a_refused_connection_gets_no_session_and_its_refusal_in_words(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "torbit")
    app = await make_server(irc={}, limits={"connection_rate": RATE, "connection_burst": BURST})
    assert app.telnet_port and app.irc_port and app.irc is not None and app.telnet is not None
    made = count_sessions(monkeypatch)
    doors = [(app.telnet_port, False), (app.irc_port, True)]
    storm = 40
    answers = await asyncio.gather(
        *(answer(doors[i % 2][0], "127.0.0.2", doors[i % 2][1]) for i in range(storm))
    )
    words = [a for a in answers if HURRIED in a]
    # the burst admitted (each a session), every other connection refused in its door's
    # words and given no session
    assert len(words) == storm - BURST, answers
    assert made["telnet"] + made["irc"] == BURST
    assert sum(b"! too many new connections" in a for a in words) + sum(
        b"ERROR :Closing link: too many new" in a for a in words
    ) == len(words)
    assert refused(app, "telnet", "rate") + refused(app, "irc", "rate") == storm - BURST
    assert app.telnet.refusals.tally.total + app.irc.refusals.tally.total == storm - BURST
    # one log line per door for the storm (its first refusal), the rest summed up later
    assert 1 <= len(told(caplog)) <= 2, told(caplog)
    await app.stop()  # a stop tells what it counted and had not told yet
    lines = told(caplog)
    assert len(lines) <= 4, lines
    summed = [line for line in lines if " more in the last " in line]
    assert summed and all("127.0.0.2" in line for line in summed), lines


def told(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The log lines about refused connections."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith(("telnet: refused", "irc: refused"))
    ]


async def test_attackers_from_several_addresses_are_each_refused_and_an_honest_user_gets_in(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server(irc={}, limits={"connection_rate": RATE, "connection_burst": BURST})
    assert app.telnet_port and app.irc_port
    made = count_sessions(monkeypatch)
    attackers = [f"127.0.0.{i}" for i in range(2, 6)]
    per = 12
    answers = await asyncio.gather(
        *(answer(app.irc_port, a, True) for a in attackers for _ in range(per))
    )
    assert sum(HURRIED in a for a in answers) == len(attackers) * (per - BURST)
    assert made["irc"] == len(attackers) * BURST
    assert refused(app, "irc", "rate") == len(attackers) * (per - BURST)
    # the honest user's address has its own bucket, untouched by the storm
    assert b"Name: " in await answer(app.telnet_port, "127.0.0.1", False)
    assert b"probe" in await answer(app.irc_port, "127.0.0.1", True)


async def test_an_honest_user_behind_an_attackers_address_is_told_why(
    make_server: ServerFactory,
) -> None:
    """Behind one NAT address with an attacker: refused, in words that say what to do, on
    the rate (a storm) and on the open connections (`connections_per_ip`) alike."""
    app = await make_server(
        irc={}, limits={"connection_rate": RATE, "connection_burst": BURST, "connections_per_ip": 2}
    )
    assert app.telnet_port and app.irc_port
    held = [
        await asyncio.open_connection("127.0.0.1", app.irc_port, local_addr=("127.0.0.2", 0))
        for _ in range(2)
    ]
    for _, w in held:  # registered as opened (a PING answered) before the next one comes
        w.write(b"PING :held\r\n")
    for r, _ in held:
        async with asyncio.timeout(15):
            await r.readuntil(b"held")
    crowded = await answer(app.telnet_port, "127.0.0.2", False)
    assert CROWDED + b" (limit 2)" in crowded, crowded
    for _, w in held:
        w.close()
    assert app.irc is not None
    while app.irc.connections.open:  # the held ones let go (counted, not timed)
        await asyncio.sleep(0.01)
    admitted = await answer(app.telnet_port, "127.0.0.2", False)  # the burst's last token
    assert b"Name: " in admitted
    late = await answer(app.irc_port, "127.0.0.2", True)
    assert b"ERROR :Closing link: " + HURRIED in late and b"wait a few seconds" in late, late
    assert refused(app, "telnet", "address") == 1 and refused(app, "irc", "rate") == 1
