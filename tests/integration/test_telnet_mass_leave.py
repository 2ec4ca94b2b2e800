"""Many telnet clients vanishing at once are logged out a slice at a time: the loop gets to
poll sockets between slices (counted in loop turns, never timed)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from torbit.core.delivery import Session
from torbit.frontends import doors


async def test_clients_leaving_at_once_are_logged_out_over_many_loop_turns(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server()
    assert app.telnet_port is not None and app.telnet is not None and app.core is not None
    n = 20
    clients = [await TelnetClient.connect(app.telnet_port) for _ in range(n)]
    for i, c in enumerate(clients):
        await c.login(f"leaver{i}")
    assert len(app.core.membership.online("lobby")) == n

    loop = asyncio.get_running_loop()
    turn = [0]
    ticking = [True]

    def tick() -> None:  # runs once per loop turn
        turn[0] += 1
        if ticking[0]:
            loop.call_soon(tick)

    sessions = app.telnet.core.sessions
    real_logout = sessions.logout
    turns_at_logout: list[int] = []
    collecting: list[bool] = []  # the cycle collector's state at each logout

    async def counted_logout(session: Session) -> None:
        turns_at_logout.append(turn[0])
        collecting.append(gc.isenabled())
        await real_logout(session)

    monkeypatch.setattr(sessions, "logout", counted_logout)
    monkeypatch.setattr(doors, "LOGOUT_SLICE", 0.0)  # one logout per slice
    monkeypatch.setattr(doors, "QUIET_GC_AT", 5)  # a storm, for this test
    assert gc.isenabled()
    tick()
    for c in clients:  # all in one turn: the server sees every close in one poll
        c.writer.transport.abort()
    deadline = loop.time() + 30  # generous: the machine may be busy; nothing here is timed
    while loop.time() < deadline:
        if len(turns_at_logout) == n and not app.core.membership.online("lobby"):
            break
        await asyncio.sleep(0.01)
    ticking[0] = False
    assert len(turns_at_logout) == n
    assert len(set(turns_at_logout)) == n  # each in a turn of its own
    assert app.core.membership.online("lobby") == []
    # the storm's last logouts ran with the cycle collector off; it is back on after
    assert collecting[-1] is False and gc.isenabled()
    newcomer = await TelnetClient.connect(app.telnet_port)
    await newcomer.login("newcomer")
    assert app.core.membership.online("lobby") == ["newcomer"]
    await newcomer.close()
