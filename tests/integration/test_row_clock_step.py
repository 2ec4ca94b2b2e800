"""Rows are dated by the store's time (rowclock60), as everything is cut by it (storeclock59,
floor59). A message's `sent_at`, a room's creation and an audit entry were dated by the
writing node's wall clock: a node running a day behind wrote messages that looked a day old,
which every read hid at once (`/receive`, a telnet join) and the next housekeeping round
deleted; one a day ahead wrote messages dated tomorrow, which no purge would remove for two
days. The store's time as a node tells it is its clock at the node's last read plus the
monotonic time since (core/storeclock.py): no store round trip on a send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, texts
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, audit, command, in_hall, mute, open_hall, services
from tests.integration.test_token_clock_step import step_wall_clock
from tests.security.conftest import basic_header, http_from

DAY = timedelta(days=1)
SLACK = timedelta(seconds=5)  # the store's time as told since the last read: a monotonic sum


def by_the_store(at: datetime, before: datetime, after: datetime) -> bool:
    """`at` is the store's time (SQLite's: the machine's) between `before` and `after`."""
    return before - SLACK <= at <= after + SLACK


@pytest.mark.parametrize("step", [-DAY, DAY], ids=["behind", "ahead"])
async def test_a_node_a_day_off_dates_its_messages_rooms_and_audit_by_the_store(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, step: timedelta
) -> None:
    """Retention 24 h. The node's wall clock runs a day behind (or ahead); alice makes #hall
    and sends over HTTP (`POST /send`), bob over telnet, then alice mutes bob. A housekeeping
    round runs; carol `/receive`s, dave joins #hall by telnet. On main, a day behind: the
    round deleted both messages and neither door showed them; a day ahead: both
    were dated tomorrow. The room, the mute's audit entry and the messages are all dated by
    the store's time now, and both doors show both messages."""
    step_wall_clock(monkeypatch, lambda: step)
    app = await make_server(chat={"retention_hours": 24})
    core = services(app)
    before = datetime.now(UTC)
    await open_hall(app, "dave")
    async with http_from(app) as client:
        r = await client.post("/send/hall/alice", content="by http", headers=basic_header("alice"))
        assert r.status_code == 201, r.text
    bob = await in_hall(app, "bob")
    await command(bob, "by telnet", r"<bob> by telnet$")
    await mute(app, "bob", 1)
    await bob.close()
    after = datetime.now(UTC)

    room = await core.store.get_room("hall")
    assert room is not None and by_the_store(room.created_at, before, after), room.created_at
    [muted] = [e for e in await audit(app, "hall") if e.action == "mute"]
    assert by_the_store(muted.at, before, after), muted.at

    purged = await core.retention.purge_expired()
    assert purged.messages == 0, purged

    async with api(app, "carol") as carol:
        r = await carol.get("/receive/hall/carol")
    assert r.status_code == 200, r.text
    assert texts(r.json()) == ["by http", "by telnet"], r.text
    for m in r.json()["messages"]:
        assert by_the_store(datetime.fromisoformat(m["sent_at"]), before, after), m

    dave = await in_hall(app, "dave")  # the history of #hall shown on joining it
    await command(dave, "shown after the history", r"<dave> shown after the history$")
    shown = [line for line in dave.seen if "<alice> by http" in line or "<bob> by telnet" in line]
    assert len(shown) == 2, dave.seen
    await dave.close()


@pytest.mark.parametrize("step", [-DAY, DAY], ids=["behind", "ahead"])
async def test_an_irc_join_on_a_node_a_day_off_shows_the_history_as_history(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, step: timedelta
) -> None:
    """An IRC join holds the room's messages back until its names are out, then sends those
    sent before the join began as history (a `chathistory` batch, time-stamped) and the rest
    as live. The join's start was the node's wall clock, the messages' times are now the
    store's: a day behind, the history went out as live messages sent now (no batch)."""
    step_wall_clock(monkeypatch, lambda: step)
    app = await make_server(irc={"port": 0})
    await open_hall(app)
    async with api(app, "alice") as alice:
        r = await alice.post("/api/v1/rooms/hall/messages", json={"text": "before the join"})
        assert r.status_code == 201, r.text
    carol = await RawIrc.connect(app)
    carol.send("CAP LS 302", "CAP REQ :batch server-time", f"PASS carol:{PASSWORD}")
    await carol.register("carol")
    carol.send("JOIN #hall")
    await carol.expect(" 366 carol #hall ")
    line = await carol.expect("before the join")
    assert "batch=" in line and "time=" in line, carol.lines[-5:]
    await carol.close()
