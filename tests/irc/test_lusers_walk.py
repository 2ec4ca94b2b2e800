"""LUSERS (sent at every login) counts the connections not registered yet (253) among those
few, not by walking every session of the door: at 10,000 clients that walk was O(N) a login,
3.5 % of the login storm's samples. Sessions looked at are counted, never timed; the count
stays exact as clients register, leave unregistered, and register after a NICK alone."""

from __future__ import annotations

import pytest

from tests.helpers.irc import RawIrc
from torbit.app import App
from torbit.frontends.irc.session import IrcSession


async def lusers_unknown(raw: RawIrc) -> int:
    raw.send("LUSERS")
    return int((await raw.expect(" 253 ")).split()[3])


async def test_lusers_counts_unregistered_without_walking_registered_clients(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = [await RawIrc.connect(app) for _ in range(30)]
    for i, c in enumerate(registered):
        await c.register(f"here{i}")
    pending = [await RawIrc.connect(app) for _ in range(3)]
    for i, c in enumerate(pending):
        c.send(f"NICK pending{i}", "PING :sync")
        await c.expect("PONG")
    watcher = registered[0]
    assert await lusers_unknown(watcher) == 3

    walked = 0
    real_registered = IrcSession.registered

    def counted_registered(self: IrcSession) -> bool:
        nonlocal walked
        walked += 1
        return bool(real_registered.fget(self))  # type: ignore[attr-defined]

    monkeypatch.setattr(IrcSession, "registered", property(counted_registered))
    before = walked
    assert await lusers_unknown(watcher) == 3
    # a LUSERS command asks its own session a few times (dispatch); main walked all 33
    assert walked - before < 30, walked - before
    monkeypatch.undo()

    pending[0].send("USER p 0 * :p")  # registers
    await pending[0].expect(" 376 ")
    pending[1].send("QUIT")  # leaves unregistered
    await pending[1].expect("ERROR")
    assert await pending[1].reader.read() == b""
    assert await lusers_unknown(watcher) == 1
    for c in [*registered, *pending]:
        await c.close()
