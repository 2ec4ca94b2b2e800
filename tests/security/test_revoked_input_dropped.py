"""A telnet session revoked (its password changed) stays until its output is out, up to the
linger (doors.LINGER) for a client that reads nothing; what it had sent before is not acted
on any more. Before, the input still waiting there (queued behind a command, or held by the
input budget: `PacedInput._kept`) was let in and handled after the revocation: mallory, with
alice's stolen password, stops reading, lets the budget hold `/op mallory` back, and alice's
password change was followed by mallory made an admin of alice's room, by alice's revoked
session. Now a session's input ends when our side closes (a revocation, a /quit, a drain)."""

from __future__ import annotations

import time

from tests.conftest import ServerFactory
from tests.helpers.http import change_password, eventually, register
from tests.helpers.moderation import api, audit, command, create_room, services, telnet
from tests.helpers.slow_reader import stop_reading
from torbit.app import App


async def test_input_held_back_is_not_acted_on_after_a_revocation(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"input_rate": 32, "input_burst": 1024})
    async with api(app, "alice") as alice:
        await register(alice, "alice", "mallory", "carol")
        await create_room(alice, "hall")
        for name in ("mallory", "carol"):
            async with api(app, name) as c:
                assert (await c.put(f"/api/v1/rooms/hall/members/{name}")).status_code == 200
        stolen = await telnet(app, "alice")  # mallory, with alice's password
        await command(stolen, "/join hall", r"^\* you are (already )?in #hall")
        session = stop_reading(app, stolen.writer, "alice")
        async with api(app, "carol") as carol:  # output queued: our close will linger
            assert session._writer is not None
            while not session._writer.unsent():
                r = await carol.post("/api/v1/rooms/hall/messages", json={"text": "x" * 3000})
                assert r.status_code == 201, r.text
        # the budget lets in what is left of its burst; the last 20 blanks and the command
        # are held back (until half the burst is back: 16 s)
        room = session._budget.room(session._full_at, time.monotonic())
        stolen.send_raw(b" " * (int(room) + 20) + b"\r\n/join hall\r\n/op mallory\r\n")
        await eventually(lambda: session._kept is not None)
        r = await change_password(alice, "new-secret")  # alice takes her account back
        assert r.status_code == 204, r.text
        await eventually(lambda: not session.is_open())
        # until what was held back is let in (or dropped) and handled
        await eventually(
            lambda: session._kept is None and not session._busy and not session._pending,
            timeout=60,
        )
    entries = await audit(app, "hall")
    assert not [e for e in entries if e.action == "op"], entries
    standing = await services(app).store.standing("hall", "mallory")
    assert not standing.admin, standing
    stolen.writer.transport.abort()


async def test_lines_after_a_quit_are_not_acted_on(server: App) -> None:
    # both lines in one read: the second was queued behind the /quit, and handled after it
    # when our close waited for output the client had not read yet
    client = await telnet(server, "dave")
    session = stop_reading(server, client.writer, "dave")
    async with api(server, "erin") as erin:
        await register(erin, "erin")
        assert (await erin.put("/api/v1/rooms/lobby/members/erin")).status_code == 200
        assert session._writer is not None
        while not session._writer.unsent():
            r = await erin.post("/api/v1/rooms/lobby/messages", json={"text": "x" * 3000})
            assert r.status_code == 201, r.text
    client.send_raw(b"/quit\r\n/create afterwards\r\n")
    await eventually(lambda: not session.is_open())
    await eventually(lambda: not session._busy and not session._pending)
    assert await services(server).store.get_room("afterwards") is None
    client.writer.transport.abort()
