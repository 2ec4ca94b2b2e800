"""A line door caps the kernel's buffers for each client (`send_buffer`, `receive_buffer`:
SO_SNDBUF, SO_RCVBUF), so a client that stops reading, or one that sends faster than the door
reads, pins at most about twice that in the kernel (Linux doubles it for its bookkeeping), plus
the one segment that may pass it (up to 64 KB on loopback), beside the door's own limits. A
client that stops reading is dropped once those are full. Left to its autotuning, Linux let one
such client's send queue grow to about 3.9 MB here, and a flooder's unread input to 1 MB. Read
from the kernel's own table (/proc/net/tcp), not timed."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from tests.helpers.slow_reader import kernel_queue
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

CAP = 16384
OVERSHOOT = 65536  # a write past the cap still queues its last segment (GSO: up to 64 KB)


async def silent_client(app: App, door: str) -> tuple[int, int, TelnetClient | RawIrc]:
    """A client of `door` in #lobby that stops reading: the door's port, its own port. Its
    own receive window and the server's end are left as they are."""
    client: TelnetClient | RawIrc
    if door == "irc":
        client = await RawIrc.connect(app)
        await client.register("silent")
        client.send("JOIN #lobby")
        await client.expect(" 366 silent #lobby ")
        assert app.irc_port is not None
        port = app.irc_port
    else:
        assert app.telnet_port is not None
        client = await TelnetClient.connect(app.telnet_port)
        await client.login("silent")
        port = app.telnet_port
    client.writer.transport.pause_reading()  # type: ignore[attr-defined]
    return port, client.writer.get_extra_info("sockname")[1], client


async def most_queued(app: App, door: str, port: int, peer: int, until: int) -> tuple[int, bool]:
    """alice talks in #lobby until the silent client is dropped or the kernel holds more than
    `until` for it: the most it was seen holding, and whether the client was dropped."""
    assert app.telnet_port is not None
    alice = await TelnetClient.connect(app.telnet_port)
    await alice.login("alice")
    drops = app.metrics.dropped_clients.labels(door)
    most = 0
    for i in range(20000):  # up to ~6 MB
        alice.send(f"{i} " + "x" * 300)
        if i % 10 == 0:
            await alice.expect(f"<alice> {i} x")
            most = max(most, kernel_queue(port, peer) or 0)
            if drops._value.get() or most > until:
                break
    await alice.close()
    return most, bool(drops._value.get())


@pytest.mark.parametrize("door", ["telnet", "irc"])
async def test_a_client_that_stops_reading_pins_no_more_than_the_send_buffer(
    make_server: ServerFactory, door: str
) -> None:
    limits = {"max_output_buffer": 8192, "send_buffer": CAP}
    app = await make_server(telnet=limits, irc={**limits, "guests": True})
    port, peer, silent = await silent_client(app, door)
    most, dropped = await most_queued(app, door, port, peer, until=1 << 30)
    assert dropped
    assert 0 < most <= 2 * CAP + OVERSHOOT, most
    await silent.close()


async def test_left_to_its_autotuning_the_kernel_holds_far_more(make_server: ServerFactory) -> None:
    """The bound above is the setting's doing: with 0 the same client's queue passes it (3.9 MB
    before the drop, when let go on)."""
    limits = {"max_output_buffer": 8192, "send_buffer": 0}
    app = await make_server(telnet=limits)
    port, peer, silent = await silent_client(app, "telnet")
    most, dropped = await most_queued(app, "telnet", port, peer, until=2 * CAP + OVERSHOOT)
    assert not dropped
    assert most > 2 * CAP + OVERSHOOT
    await silent.close()


@pytest.mark.parametrize("cap", [CAP, 0])
async def test_a_client_sending_faster_than_the_door_reads_pins_no_more_than_the_receive_buffer(
    make_server: ServerFactory, cap: int
) -> None:
    """The door reads its input at limits.input_rate (128 KB a second, its default) and pauses
    in between; the rest of a 4 MB flood waits in the client's own buffers once the server's
    kernel holds twice the cap. With 0 the kernel, seeing the door read, grows its buffer past
    that bound (to 1 MB in a probe)."""
    limits = {"input_rate": 128 * 1024, "input_burst": 256 * 1024}
    app = await make_server(telnet={"receive_buffer": cap}, limits=limits)
    assert app.telnet_port is not None
    flooder = await TelnetClient.connect(app.telnet_port)
    await flooder.login("flooder")
    port, peer = app.telnet_port, flooder.writer.get_extra_info("sockname")[1]
    flooder.writer.write((b"x" * 1000 + b"\r\n") * 4000)
    held = []
    for _ in range(100):  # a second and more: the door reads about 10 % of it meanwhile
        await asyncio.sleep(0.01)
        held.append(kernel_queue(port, peer, received=True) or 0)
    # the client's own end holds the rest: the server's kernel took no more
    assert kernel_queue(peer, port)
    if cap:
        assert 0 < max(held) <= 2 * cap + OVERSHOOT, max(held)
    else:
        assert max(held) > 2 * CAP + OVERSHOOT, max(held)
    flooder.writer.transport.abort()
