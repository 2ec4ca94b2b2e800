"""A client flooding a line door with bytes that make no event (an endless line, telnet
commands) or junk before login: the server reads no more of it than the connection's input
byte budget lets (`limits.input_rate`, a smaller one until login), pausing, not cutting, the
connection, while an honest pair chats on. Counted: the bytes the server read (its
`torbit_input_bytes`), how many pauses, every honest message; the flood lasts `FLOOD`
seconds, and the bound grows with the time it took."""

from __future__ import annotations

import asyncio
import socket
import time

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import telnet
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

FLOOD = 2.0  # seconds of flooding
RATE, BURST = 64 * 1024, 128 * 1024  # logged in
LOGIN_RATE, LOGIN_BURST = 1024, 16384  # before login
LIMITS = {
    "input_rate": RATE,
    "input_burst": BURST,
    "login_input_rate": LOGIN_RATE,
    "login_input_burst": LOGIN_BURST,
}
READ = 256 * 1024  # the largest single read (asyncio's and uvloop's): the one that overdraws
KERNEL = 8 << 20  # what the client's and server's socket buffers may hold, at most, between


def read_bytes(app: App, door: str) -> float:
    """torbit_input_bytes of the door (0 where there is none: the flood's own count fails
    first on a server without a budget)."""
    return app.metrics.registry.get_sample_value("torbit_input_bytes_total", {"door": door}) or 0


def small_buffers(app: App, client: TelnetClient, user: str) -> None:
    """64 KB socket buffers on both ends of `user`'s connection (no autotuning to MBs), so
    what is left in them after the flood is read at the budget in seconds, not a minute."""
    client.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    assert app.telnet is not None
    (session,) = [s for s in app.telnet.sessions if s.user_key == user]
    assert session._writer is not None and session._writer.transport is not None
    sock = session._writer.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)


def holds(app: App, door: str) -> float:
    return app.metrics.registry.get_sample_value("torbit_input_held_total", {"door": door}) or 0


async def flood(writer: asyncio.StreamWriter, chunk: bytes, seconds: float) -> int:
    """Write `chunk` again and again for `seconds` (or until the server cuts the
    connection: `writer.is_closing()`); the bytes the kernel took."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    sent = 0
    while (left := end - loop.time()) > 0:
        writer.write(chunk)
        try:
            await asyncio.wait_for(writer.drain(), left)
        except TimeoutError:
            break
        except OSError:  # cut by the server
            writer.transport.abort()
            break
        sent += len(chunk)
    return sent


async def test_an_endless_line_is_read_at_the_budget_and_honest_users_chat_on(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits=LIMITS)
    alice, bob, mallory = [await telnet(app, n) for n in ("alice", "bob", "mallory")]
    small_buffers(app, mallory, "mallory")
    before, started = read_bytes(app, "telnet"), time.monotonic()

    async def talk() -> None:
        for i in range(20):
            alice.send(f"honest {i}")
            await asyncio.sleep(FLOOD / 20)

    sent, _ = await asyncio.gather(flood(mallory.writer, b"A" * 65536, FLOOD), talk())
    read = read_bytes(app, "telnet") - before
    elapsed = time.monotonic() - started
    # on main the server read all of it, hundreds of MB; the kernel holds at most a few
    assert sent <= BURST + RATE * elapsed + READ + KERNEL, (sent, elapsed)
    honest_bytes = 20 * 16
    assert read <= BURST + RATE * elapsed + READ + honest_bytes, (read, elapsed)
    assert read > 0  # counted
    assert holds(app, "telnet") >= 1
    got = [(await bob.expect(r"<alice> honest (\d+)")).group(1) for _ in range(20)]
    assert got == [str(i) for i in range(20)]  # every honest message, in order
    # paused, not cut: the line ends, is refused once, and mallory talks on
    mallory.send("")
    mallory.send("still here")
    await mallory.expect(r"<mallory> still here", timeout=120)
    assert sum("line too long" in line for line in mallory.seen) == 1
    for c in (alice, bob, mallory):
        await c.close()


async def test_a_flood_before_login_is_cut(make_server: ServerFactory) -> None:
    """Before login a read past the budget by more than its burst cuts the connection: no
    person sends that much before logging in, and what is kept while reading pauses stays
    in memory even after the client reset the connection (IRC, 1,000 resets a second of
    random bytes: 631 MB)."""
    app = await make_server(limits=LIMITS)
    assert app.telnet_port is not None
    mallory = await TelnetClient.connect(app.telnet_port)
    await mallory.read_until("Name: ")
    before, started = read_bytes(app, "telnet"), time.monotonic()
    sent = await flood(mallory.writer, b"B" * 65536, FLOOD)
    read = read_bytes(app, "telnet") - before
    elapsed = time.monotonic() - started
    assert sent <= LOGIN_BURST + LOGIN_RATE * elapsed + READ + KERNEL, (sent, elapsed)
    assert read <= LOGIN_BURST + LOGIN_RATE * elapsed + READ, (read, elapsed)
    assert read > 0  # counted
    assert mallory.writer.is_closing()  # cut (the server reset it: its bytes were unread)
    await mallory.close()


async def test_junk_before_login_is_answered_ten_times_then_hung_up(
    make_server: ServerFactory,
) -> None:
    app = await make_server()
    assert app.telnet_port is not None
    mallory = await TelnetClient.connect(app.telnet_port)
    await mallory.read_until("Name: ")
    mallory.send_raw(b"%%% not a name\r\n" * 50)
    await mallory.expect("too many lines that are not a login, bye")
    assert sum("not a name" in line for line in mallory.seen) == 9
    # and then the server hangs up
    assert await mallory.lines_for(10) == []
    assert mallory.reader.at_eof()
    await mallory.close()


async def test_a_piped_login_over_the_login_budget_is_read_once_logged_in(
    make_server: ServerFactory,
) -> None:
    """`printf 'name\\npw\\npw\\n...' | nc`: what follows the login may pass the login's
    budget; the pause ends at the login, and every line is sent."""
    app = await make_server(limits=LIMITS)
    assert app.telnet_port is not None
    bob = await telnet(app, "bob")
    piped = await TelnetClient.connect(app.telnet_port)
    lines = [f"piped {i:03d} " + "p" * 180 for i in range(100)]  # ~19 KB, over 4 KB
    piped.send_raw(
        "".join(f"{s}\r\n" for s in ["carol", "pw-of-carol", "pw-of-carol", *lines]).encode()
    )
    got = [(await bob.expect(r"<carol> (piped \d+)")).group(1) for _ in lines]
    assert got == [s[:9] for s in lines]
    await piped.close()
    await bob.close()


async def test_irc_a_flood_before_registration_is_cut(make_server: ServerFactory) -> None:
    app = await make_server(limits=LIMITS)
    mallory = await RawIrc.connect(app)
    before, started = read_bytes(app, "irc"), time.monotonic()
    sent = await flood(mallory.writer, b"C" * 65536, FLOOD)
    read = read_bytes(app, "irc") - before
    elapsed = time.monotonic() - started
    assert sent <= LOGIN_BURST + LOGIN_RATE * elapsed + READ + KERNEL, (sent, elapsed)
    assert read <= LOGIN_BURST + LOGIN_RATE * elapsed + READ, (read, elapsed)
    assert read > 0  # counted
    assert mallory.writer.is_closing()
    await mallory.close()


async def test_irc_registered_flood_is_read_at_the_budget(make_server: ServerFactory) -> None:
    app = await make_server(limits=LIMITS, irc={"guests": True})
    mallory = await RawIrc.connect(app)
    await mallory.register("mallory")
    before, started = read_bytes(app, "irc"), time.monotonic()
    sent = await flood(mallory.writer, b"PING :" + b"D" * 65530, FLOOD)
    read = read_bytes(app, "irc") - before
    elapsed = time.monotonic() - started
    assert sent <= BURST + RATE * elapsed + READ + KERNEL, (sent, elapsed)
    assert read <= BURST + RATE * elapsed + READ, (read, elapsed)
    assert read > 0  # counted
    assert holds(app, "irc") >= 1
    mallory.writer.transport.abort()
    await mallory.close()
