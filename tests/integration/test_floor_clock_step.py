"""Reads show messages within the retention by the store's time (floor59), as housekeeping
purges by it (storeclock59). `Membership.floor`, the oldest a message may be to be shown,
was the node's wall clock less the retention: a node whose wall clock stepped a day forward
(a VM resumed, NTP) showed its readers no history at all, on every door, until its clock was
back, though nothing had been deleted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import register, texts
from tests.helpers.moderation import services, telnet
from tests.integration.test_telnet_comeback import command, connect, gone, landing
from tests.integration.test_token_clock_step import step_wall_clock
from tests.security.conftest import basic_header, http_from
from torbit.core import comeback, renames
from torbit.core.events import Expelled
from torbit.core.models import Draft, Room, User

HOUR = timedelta(hours=1)


async def test_a_node_stepped_a_day_forward_still_shows_the_last_day_s_messages(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention 24 h; #hall made two days ago holds a message 25 h old and one 1 h old.
    The node's wall clock steps 24 h forward: `/receive` (HTTP) and a telnet join's history
    still show the 1 h old one, and not the 25 h old (on main neither door showed either)."""
    jump = [timedelta(0)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    app = await make_server(chat={"retention_hours": 24})
    core = services(app)
    now = datetime.now(UTC)
    await core.store.create_room(Room("hall", created_at=now - 48 * HOUR))
    await core.message_log.publish(
        [
            Draft("hall", "carol", "a day ago", now - 25 * HOUR),
            Draft("hall", "carol", "an hour ago", now - HOUR),
        ]
    )
    jump[0] = 24 * HOUR

    async with http_from(app) as client:
        await register(client, "alice")
        r = await client.get("/receive/hall/alice", headers=basic_header("alice"))
        assert r.status_code == 200, r.text
        assert texts(r.json()) == ["an hour ago"]

    bob = await telnet(app, "bob")
    await command(bob, "/join hall", r"^\* you are in #hall")
    await command(bob, "shown after the history", r"<bob> shown after the history$")
    shown = [line for line in bob.seen if "<carol>" in line]
    assert [line.split("<carol> ", 1)[1] for line in shown] == ["an hour ago"]
    await bob.close()


async def test_a_node_stepped_a_day_back_still_carries_a_ban_to_a_renamed_guest(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another node bans dave from alice's #den (made an hour ago) while this node renames
    the guest dave to dave2: the ban is done again to dave2 (core/renames.py) if #den was
    made before the event reached this node. That was told by this node's wall clock: one
    stepped a day back took every room made within the day for one made after the act, and
    dave2 stayed in #den, unbanned (on main: not carried, "no room 'den'")."""

    class Stepped(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return datetime.now(UTC) - 24 * HOUR

    monkeypatch.setattr(renames, "datetime", Stepped)
    app = await make_server()
    core = services(app)
    now = datetime.now(UTC)
    for name in ("alice", "dave2"):
        await core.store.create_user(User(name, "x", now - 2 * HOUR))
    await core.store.create_room(Room("den", created_at=now - HOUR, owner="alice"))
    await core.store.add_member("den", "dave2")
    carrying = core.guests._renames
    assert carrying is not None
    carrying.begin("dave")
    async with core.membership.rights.alone("dave"):  # the rename's turn on the old name
        work = core.membership._events.apply(
            Expelled("den", "den", "dave", "dave", "alice", "banned")
        )
        carrying.end("dave", ("dave2", "dave2"))
    await asyncio.gather(*work)
    assert await core.store.list_bans("den") == ["dave2"]


async def test_a_login_comes_back_to_the_room_left_last_after_a_step_back(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice's telnet session ends in #den while the node's wall clock stands a day forward;
    the clock is set right, and her next session ends in #hall. Her next login comes back to
    #hall (on main to #den: its end was dated a day late, and the newest wins, for the day)."""
    jump = [24 * HOUR]
    step_wall_clock(monkeypatch, lambda: jump[0])

    class Stepped(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return datetime.now(UTC) + jump[0]

    monkeypatch.setattr(comeback, "datetime", Stepped)
    app = await make_server()
    alice = await connect(app, "alice")
    await command(alice, "/join den", r"^\* you are in #den")
    await alice.close()
    await gone(app, "alice", "den")
    jump[0] = timedelta(0)
    alice = await connect(app, "alice")
    await command(alice, "/join hall", r"^\* you are in #hall")
    await alice.close()
    await gone(app, "alice", "hall")
    assert (await landing(app, "alice"))[0].startswith("* you are in #hall"), "came back to #den"
