"""attack60 on one node (SQLite): a node's wall clock stepped while a long poll waits or a
WebSocket streams (floor59's reads by the store's time), and while a mute runs (clock58)
through IRC's PRIVMSG and NOTICE and the WebSocket."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.held_calls import HeldCall
from tests.helpers.http import PASSWORD, texts
from tests.helpers.irc import joined
from tests.helpers.moderation import (
    Ws,
    api,
    frame_text,
    in_hall,
    irc_in_hall,
    mute,
    open_hall,
    services,
)
from tests.integration.test_mute_skewed_clock import skew_clock
from tests.integration.test_token_clock_step import step_wall_clock
from torbit.core.membership import Membership
from torbit.core.revocation import Revocations
from torbit.core.storeclock import StoreClock
from torbit.frontends.irc import channels


@pytest.mark.parametrize("made", [0, 2], ids=["stepped-back", "made-ahead"])
async def test_a_message_sent_after_the_node_s_clock_stepped_back_is_read_as_streamed(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, made: int
) -> None:
    """#hall made (by a wall clock right, or 2 minutes ahead); the node's wall clock steps
    2 minutes back (NTP setting right a clock that ran fast); bob sends by HTTP while
    alice's long poll (`/receive?wait=10`) waits and carol's WebSocket streams #hall: each
    sees it once, and so does a page of history. On main the message was dated by the
    stepped clock, before the room's creation, and only the WebSocket showed it."""
    jump = [timedelta(minutes=made)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    app = await open_hall(await make_server(), "dave")
    carol = await Ws.open(app, "carol")
    await carol.subscribe("hall")
    async with api(app, "alice") as alice, api(app, "bob") as bob:
        r = await alice.get("/receive/hall/alice")
        assert r.status_code == 200, r.text
        jump[0] -= timedelta(minutes=2)
        poll = asyncio.create_task(alice.get("/receive/hall/alice", params={"wait": 10}))
        await asyncio.sleep(0.2)  # parked (the poll answers what comes either way)
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "after the step"})
        assert r.status_code == 201, r.text
        got = (await poll).json()
        await carol.next("message", "after the step")
        r = await alice.get("/receive/hall/alice")
        again = texts(r.json())
        page = await alice.get("/api/v1/rooms/hall/messages")
    await carol.close()
    shown = [m["text"] for m in page.json()["messages"]]
    print(f"long poll {texts(got)}, then {again}; history {shown}; streamed {carol.texts()}")
    assert carol.texts().count("after the step") == 1
    assert texts(got) + again == ["after the step"]
    assert "after the step" in shown


@pytest.mark.parametrize("minutes", [2, -2], ids=["forward", "back"])
async def test_a_mute_across_a_wall_clock_step_holds_on_every_door(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, minutes: int
) -> None:
    """clock58's attack stepped back too, and through every door: bob muted 1 minute; the
    node's wall clock steps 2 minutes forward (or back) between two of its feed marks; bob
    sends an IRC PRIVMSG and NOTICE, a WebSocket send, a telnet line and an HTTP message
    to #hall, before and after the next mark read the store's clock: each refused (the NOTICE silently, RFC 2812), none stored. On
    main, stepped back, every one went out after the mark: the room's creation, dated by
    the wall clock, was compared with the mute's start through the clock's new offset, and
    the mute taken for an earlier room's."""
    jump = [timedelta(0)]
    skew_clock(monkeypatch, lambda: jump[0])
    app = await open_hall(await make_server())
    irc = await irc_in_hall(app, "bob")
    tn = await in_hall(app, "bob")
    ws = await Ws.open(app, "bob")
    await ws.subscribe("hall")
    await mute(app, "bob", 1)
    await ws.next("notice", "bob was muted in #hall")
    marks = HeldCall(monkeypatch, Revocations, "mark")  # no mark measures the step meanwhile
    await marks.until_reached()
    jump[0] = timedelta(minutes=minutes)
    read = asyncio.Event()  # the store's clock read again since the step (a mark's)
    observe = StoreClock.observe

    def noting(self: StoreClock, *args: Any) -> None:
        observe(self, *args)
        read.set()

    refused = 0
    for n, phase in enumerate(("before the mark", "after it")):
        if n == 1:
            monkeypatch.setattr(StoreClock, "observe", noting)
            marks.let_go()
            async with asyncio.timeout(30):
                await read.wait()
        seen = len(irc.lines)
        irc.send(f"PRIVMSG #hall :{phase} p", f"NOTICE #hall :{phase} n", f"PING :{n}")
        await irc.expect(f"PONG torbit {n}")
        refused += sum(" 404 " in line and "muted in #hall" in line for line in irc.lines[seen:])
        await ws.send(type="send", room="hall", text=f"{phase} w", ref=n + 1)
        async with asyncio.timeout(30):
            while not (answer := [f for f in ws.frames if f.get("ref") == n + 1]):
                await asyncio.sleep(0.005)  # the reader files frames as they come
        refused += answer[0]["type"] == "error" and "muted in #hall" in frame_text(answer[0])
        tn.send(f"{phase} t")
        said = await tn.expect(rf"^! you are muted in #hall|<bob> {phase} t$")
        refused += said.string.startswith("!")
        async with api(app, "bob") as bob:
            r = await bob.post("/api/v1/rooms/hall/messages", json={"text": f"{phase} h"})
        refused += r.status_code == 403 and "muted in #hall" in r.text
    stored = [m.text for m in await services(app).message_log.read("hall") if m.sender == "bob"]
    await tn.close()
    await irc.close()
    await ws.close()
    print(f"mute across a {minutes:+} min step: {refused} of 8 answered muted, {stored} stored")
    assert refused == 8 and stored == []  # PRIVMSG, WebSocket, telnet, HTTP, twice; no NOTICE
    assert services(app).mutes.until("hall", "bob") is not None


async def test_a_message_sent_while_an_irc_join_is_under_way_is_live_whatever_the_wall_clock(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IRC holds a room's messages while a JOIN is under way, then sends those sent before
    the join began as history (left out for a draft/chathistory client, which asks for
    history itself) and the rest live. The join's start was the node's wall clock, the
    messages' time the store's: a node 2 minutes ahead took bob's message, sent during
    alice's join, for history, and alice never saw it."""
    jump = [timedelta(minutes=2)]
    step_wall_clock(monkeypatch, lambda: jump[0])
    monkeypatch.setattr(channels, "datetime", Stepped2, raising=False)  # read there once
    app = await open_hall(await make_server())
    joins = HeldCall(monkeypatch, Membership, "join", after=True)
    alice = await joined(app, "alice", caps="draft/chathistory batch", password=PASSWORD)
    alice.send("JOIN #hall")
    await joins.until_reached()
    async with api(app, "bob") as bob:
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "during the join"})
        assert r.status_code == 201, r.text
    joins.let_go()
    await alice.expect(" 366 alice #hall ")
    alice.send("PING :after")
    await alice.expect("PONG torbit after")
    heard = [line for line in alice.lines if "PRIVMSG #hall :during the join" in line]
    await alice.close()
    assert len(heard) == 1, alice.lines[-8:]


class Stepped2(datetime):
    """The wall clock 2 minutes ahead, for the modules that read it themselves."""

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return datetime.now(UTC) + timedelta(minutes=2)
