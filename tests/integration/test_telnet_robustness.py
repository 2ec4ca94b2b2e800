"""Hostile and slow clients, timeouts, retention and restarts, against a real server."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import UTC, datetime, timedelta

from tests.conftest import ServerFactory
from tests.helpers.slow_reader import stop_reading
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.models import Draft
from torbit.core.retention import Retention

LINE = r"^\[\d\d:\d\d:\d\d\] "
HOUR = timedelta(hours=1)


async def connect(app: App, name: str) -> TelnetClient:
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.login(name)
    return c


async def test_messages_survive_a_restart(make_server: ServerFactory) -> None:
    app = await make_server()
    alice = await connect(app, "alice")
    for i in range(3):
        alice.send(f"kept {i}")
    await alice.expect("<alice> kept 2")
    await alice.close()
    await app.stop()
    app2 = await make_server()
    bob = await connect(app2, "bob")
    got = [await bob.expect(LINE + r"<alice> kept (\d)") for _ in range(3)]
    assert [g.group(1) for g in got] == ["0", "1", "2"]
    await bob.close()


async def test_retention_purge_deletes_old_messages(server: App) -> None:
    """A purge deletes from the log what is past the retention and keeps what is not. The
    purge runs with a clock an hour ahead, over messages 23.5 hours old: the server's own
    purge round (at its start, then every minute) has nothing to delete, so the count is
    this purge's alone (it was 0 or 5, by which got there first). The log itself is read:
    a member's history never shows messages from before the room was made, purged or not
    (with the purge doing nothing, the history was ["fresh"] all the same)."""
    services = server.core
    assert services is not None
    old = datetime.now(UTC) - timedelta(hours=23.5)
    await services.message_log.publish(
        [Draft(channel="lobby", sender="ghost", text=f"ancient {i}", sent_at=old) for i in range(5)]
    )
    alice = await connect(server, "alice")
    alice.send("fresh")
    await alice.expect("<alice> fresh")
    keep = services.retention.keep
    assert keep == timedelta(hours=24)
    later = Retention(
        services.store, services.message_log, keep, now=lambda: datetime.now(UTC) + HOUR
    )
    purged = await later.purge_expired()
    assert purged.messages == 5
    left = await services.message_log.read("lobby", limit=50)
    assert [m.text for m in left] == ["fresh"]
    history = await services.messaging.history("alice", "lobby", limit=50)
    assert [m.text for m in history] == ["fresh"]
    await alice.close()


async def test_slow_reader_is_dropped_and_others_keep_receiving(make_server: ServerFactory) -> None:
    app = await make_server(telnet={"max_output_buffer": 8192})
    assert app.telnet_port is not None
    slow = await TelnetClient.connect(app.telnet_port)
    await slow.login("slowpoke")
    stop_reading(app, slow.writer, "slowpoke")  # and never reads again
    alice = await connect(app, "alice")
    bob = await connect(app, "bob")
    payload = "x" * 3000
    drops = app.metrics.dropped_clients.labels("telnet")
    # up to ~7.5 MB to the slow reader: far beyond the kernel's socket buffers plus 8 KB; a
    # few hundred more once it is dropped, not the rest. bob reads every 60 KB, well within
    # what a door holds for a reader (8 KB here, and the kernel's capped send buffer)
    n, dropped_at = 2500, None
    for i in range(n):
        alice.send(f"{i} {payload}")
        if i % 20 == 0:
            await bob.expect(f"<alice> {i} x")
            if dropped_at is None and drops._value.get():
                dropped_at = i
            elif dropped_at is not None and i >= dropped_at + 300:
                break  # bob has had them all: this was the last
    else:
        await bob.expect(f"<alice> {n - 1} x")
    services = app.core
    assert services is not None
    assert drops._value.get() == 1
    assert "slowpoke" not in services.membership.online("lobby")
    await slow.close()
    await alice.close()
    await bob.close()


async def test_hostile_bytes_leave_server_and_others_unaffected(server: App) -> None:
    assert server.telnet_port is not None
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    rng = random.Random(1234)
    attackers: list[TelnetClient] = []
    for kind in range(4):
        c = await TelnetClient.connect(server.telnet_port)
        attackers.append(c)
        if kind == 0:  # random bytes
            c.send_raw(bytes(rng.randrange(256) for _ in range(200_000)))
        elif kind == 1:  # IAC floods: negotiation and unterminated subnegotiation
            c.send_raw(b"\xff\xfd\x01\xff\xfb\x03" * 50_000 + b"\xff\xfa" + b"A" * 100_000)
        elif kind == 2:  # a 1 MB line without newline
            c.send_raw(b"a" * 1_000_000)
        else:  # invalid UTF-8 after logging in
            await c.login("mallory")
            c.send_raw(b"\xc3\x28 bad \xa0\xa1 utf8 \xf0\x28\x8c\x28\r\n")
    await attackers[3].expect(LINE + "<mallory> \ufffd\\( bad \ufffd\ufffd utf8")
    alice.send("still alive?")
    await bob.expect("<alice> still alive\\?")
    # the 1 MB line before login was more than the login's input budget holds at once: the
    # connection is cut (limits.login_input_burst; a reset, its bytes unread), not buffered
    try:
        async with asyncio.timeout(30):
            while await attackers[2].reader.read(65536):
                pass
    except ConnectionResetError:
        pass
    for c in attackers:
        await c.close()
    carol = await connect(server, "carol")
    carol.send("after the storm")
    await alice.expect("<carol> after the storm")
    for c in (alice, bob, carol):
        await c.close()


async def test_overlong_chat_line_gets_an_error_and_is_dropped(server: App) -> None:
    alice = await connect(server, "alice")
    alice.send("y" * 5000)
    await alice.expect("^! line too long: at most 4096 bytes")
    alice.send("short one")
    await alice.expect("<alice> short one")
    assert not any("yyyy" in line for line in alice.seen)
    await alice.close()


async def test_line_endings_and_backspace(server: App) -> None:
    alice = await connect(server, "alice")
    alice.send_raw(b"one\n")
    await alice.expect("<alice> one$")
    alice.send_raw(b"two\r\x00")
    await alice.expect("<alice> two$")
    alice.send_raw(b"thrx\x08ee\x7f\x7fee\r\n")
    await alice.expect("<alice> three$")
    alice.send_raw("caf\u00e9 \u2603\r\n".encode())
    await alice.expect("<alice> caf\u00e9 \u2603$")
    await alice.close()


async def test_idle_connections_that_never_log_in_are_closed(make_server: ServerFactory) -> None:
    app = await make_server(telnet={"login_timeout": 0.5})
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.expect("login timed out")
    await c.lines_for(1)
    assert c.reader.at_eof()
    await c.close()


async def test_shutdown_tells_connected_users(make_server: ServerFactory) -> None:
    app = await make_server()
    alice = await connect(app, "alice")
    stopping = asyncio.create_task(app.stop())
    await alice.expect("server is shutting down")
    await stopping
    await alice.lines_for(0.5)
    assert alice.reader.at_eof()
    await alice.close()


async def test_transcript_log_gets_room_messages_only(make_server: ServerFactory) -> None:
    app = await make_server()
    alice = await connect(app, "alice")
    alice.send("for the record")
    alice.send("/msg alice a private note")
    await alice.expect("a private note")
    await alice.close()
    await app.stop()
    transcript = (app.settings.log.dir / "transcript.log").read_text()
    assert "#lobby <alice> for the record" in transcript
    assert "private note" not in transcript
    assert os.path.exists(app.settings.log.dir / "torbit.log")
