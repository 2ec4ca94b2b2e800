"""An IRC client without server-time gets the history on join with `[HH:MM:SS]` before each
text. With `chat.timezone` set, telnet showed those times in that zone and IRC in UTC: the
same message read at 23:15:35 on one door and 22:15:35 on the other (found walking the README
with `timezone = "Europe/Paris"`). Both doors now use the configured zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import ServerFactory
from tests.helpers.http import basic, http_client, register
from tests.helpers.irc import joined

ZONE = "Asia/Kolkata"  # UTC+05:30: its clock differs from UTC's in hours and minutes


async def test_history_stamps_are_in_the_configured_time_zone(
    make_server: ServerFactory,
) -> None:
    app = await make_server(chat={"timezone": ZONE})
    async with http_client(app) as client:
        await register(client, "alice", "bob")
        r = await client.post("/send/lobby/bob", content="hello zone", auth=basic("bob"))
        assert r.status_code == 201, r.text
        sent_at = datetime.fromisoformat(r.json()["sent_at"].replace("Z", "+00:00"))
    there = sent_at.astimezone(ZoneInfo(ZONE)).strftime("%H:%M:%S")
    raw = await joined(app, "alice", "lobby", password="secret-pw")
    line = await raw.expect("hello zone")
    assert line.endswith(f"PRIVMSG #lobby :[{there}] hello zone"), line
    await raw.close()
