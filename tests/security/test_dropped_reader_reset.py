"""A slow reader dropped by a line door is reset, so the kernel lets go of what it still
queued for it. A plain close of a client that reads nothing left the server's end of the
connection as an orphan in FIN-WAIT-1, holding its send queue (up to the autotuned 4 MB;
2.8 MB in stop 39's probe) and probing the shut window while the client keeps its end: memory
an attacker's idle connections could pin well past the door's byte limit. Counted from the kernel's own table
(/proc/net/tcp), not timed: the server's end must be gone, while the client still holds its
end open and unread."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import eventually
from tests.helpers.irc import RawIrc
from tests.helpers.slow_reader import kernel_holds, stop_reading
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App


async def slow_client(app: App, door: str) -> tuple[int, int, TelnetClient | RawIrc]:
    """A client of `door` in #lobby that never reads again: the door's port, its own port."""
    if door == "irc":
        irc = await RawIrc.connect(app)
        await irc.register("slow")
        irc.send("JOIN #lobby")
        await irc.expect(" 366 slow #lobby ")
        stop_reading(app, irc.writer, "slow")
        assert app.irc_port is not None
        return app.irc_port, irc.writer.get_extra_info("sockname")[1], irc
    assert app.telnet_port is not None
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.login("slow")
    stop_reading(app, telnet.writer, "slow")
    return app.telnet_port, telnet.writer.get_extra_info("sockname")[1], telnet


@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_dropped_slow_reader_is_reset_and_the_kernel_keeps_nothing_for_it(
    make_server: ServerFactory, door: str
) -> None:
    limits = {"max_output_buffer": 8192}
    app = await make_server(telnet=limits, irc={**limits, "guests": True})
    port, peer, slow = await slow_client(app, door)
    assert kernel_holds(port, peer)
    assert app.telnet_port is not None
    alice = await TelnetClient.connect(app.telnet_port)
    await alice.login("alice")
    drops = app.metrics.dropped_clients.labels(door)
    for i in range(2500):  # up to ~7.5 MB: far past its buffers, until it is dropped
        alice.send(f"{i} " + "x" * 3000)
        if i % 20 == 0:  # alice takes her echoes every 60 KB, as a reader keeping up
            await alice.expect(f"<alice> {i} x")
            if drops._value.get():
                break
    assert drops._value.get() == 1
    # its end stays open and unread: only a reset frees the server's end now
    await eventually(lambda: not kernel_holds(port, peer), timeout=15)
    await slow.close()
    await alice.close()
