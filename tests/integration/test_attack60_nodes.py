"""Stop 59's code as a hostile, parallel client on two nodes sees it (attack60 in
docs/security.md): bob's sessions on node b, through every door at once (telnet, IRC, the
WebSocket, HTTP), keep sending while on node a his right to is taken away (his room
deleted, he is banned or kicked), and right after the act's answer; the room made again
under the name. Nothing sent after the answer lands, in the room taken away or in the one
made again, and a room made again shows nothing of the old one."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import Ws, api, audit, command, frame_text, services, telnet
from tests.helpers.telnet_client import TelnetClient
from tests.scale.conftest import STORES, NodeFactory, race_bursts
from torbit.app import App
from torbit.core.events import MuteGone, NodeEvent, NodeEvents
from torbit.core.models import Message
from torbit.core.moderation_notices import ModerationNotices

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("patient_settling")]
ROUNDS = 8
# no message rate: every line a flood sends is one the checks must stop
LIMITS = {**race_bursts(ROUNDS), "message_rate": 0, "room_message_rate": 0}


class Doors:
    """bob's sessions on one node, one per door: each `say` sends a line to #den and
    returns once the node handled it (a connection's lines are handled in order)."""

    def __init__(self, tn: TelnetClient, irc: RawIrc, ws: Ws, http: httpx.AsyncClient) -> None:
        self.tn, self.irc, self.ws, self.http = tn, irc, ws, http
        self._refs = itertools.count(1)
        self.http_codes: list[int] = []

    @classmethod
    async def open(cls, node: App, http: httpx.AsyncClient) -> Doors:
        tn = await telnet(node, "bob")
        irc = await joined(node, "bob", password=PASSWORD)
        ws = await Ws.open(node, "bob")
        return cls(tn, irc, ws, http)

    async def enter(self, room: str) -> None:
        await command(self.tn, f"/join {room}", rf"^\* you are (already )?in #{room}")
        self.irc.send(f"JOIN #{room}")
        await self.irc.expect(f" 366 bob #{room} ")
        await self.ws.subscribe(room)

    async def say(self, door: str, text: str) -> None:
        if door == "telnet":
            self.tn.send(text)
            await command(self.tn, "/ignored", r"^\* you ignore nobody$")
        elif door == "irc":  # a PRIVMSG and a NOTICE each time
            token = f"p{next(self._refs)}"
            self.irc.send(f"PRIVMSG #den :{text}", f"NOTICE #den :{text}n", f"PING :{token}")
            await self.irc.expect(f"PONG torbit {token}")
        elif door == "ws":
            ref = next(self._refs)
            await self.ws.send(type="send", room="den", text=text, ref=ref)
            async with asyncio.timeout(30):
                while not any(f.get("ref") == ref for f in self.ws.frames):
                    await asyncio.sleep(0.005)  # the reader files frames as they come
        else:
            # not the classic `/send`, which makes the caller a member of a public room first
            r = await self.http.post("/api/v1/rooms/den/messages", json={"text": text})
            self.http_codes.append(r.status_code)

    async def flood(self, door: str, tag: str, stop: asyncio.Event) -> int:
        """Lines to #den until `stop`; how many were sent (IRC's: a PRIVMSG and a NOTICE)."""
        for i in itertools.count():
            if stop.is_set():
                return 2 * i if door == "irc" else i
            await self.say(door, f"{tag}-{door}-{i}")
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.tn.close()
        await self.irc.close()
        await self.ws.close()


DOORS = ("telnet", "irc", "ws", "http")


async def in_log(node: App, room: str, start: str) -> list[Message]:
    messages: list[Message] = await services(node).message_log.read(room, limit=100_000)
    return [m for m in messages if m.text.startswith(start)]


async def setup(a: App) -> None:
    for name in ("alice", "bob", "carol"):
        await services(a).accounts.register(name, PASSWORD)


Act = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@pytest.mark.parametrize("scale_store", STORES)
async def test_a_room_deleted_on_one_node_while_the_others_sessions_flood_it(
    make_node: NodeFactory,
) -> None:
    """alice deletes #den on node a while bob floods it from node b through every door;
    right after the `204` each door sends once more, and carol makes #den again on node b,
    private, and each door sends once more: nothing sent after the answer lands in either room, the
    room made again shows nothing, and what the flood left of the old room is counted."""
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await setup(a)
    summary = []
    async with api(a, "alice") as alice, api(b, "carol") as carol, api(b, "bob") as bob_http:
        doors = await Doors.open(b, bob_http)
        for n in range(ROUNDS):
            await services(a).moderation.create("alice", "den")
            await services(a).membership.become_member("bob", "den")
            await doors.enter("den")
            stop = asyncio.Event()
            floods = [asyncio.create_task(doors.flood(d, f"r{n}", stop)) for d in DOORS]
            await asyncio.sleep(0.02 * (n % 4))  # the deletion 0-60 ms into the flood
            r = await alice.delete("/api/v1/rooms/den")
            assert r.status_code == 204, r.text
            answered = datetime.now(UTC)
            stop.set()
            sent = await asyncio.gather(*floods)
            await asyncio.gather(*(doors.say(d, f"after{n}-{d}") for d in DOORS))
            # made again private: bob is nobody there (a public room lets anyone send by HTTP)
            r = await carol.post("/api/v1/rooms", json={"name": "den", "private": True})
            assert r.status_code == 201, r.text
            made = datetime.fromisoformat(r.json()["created_at"])
            await asyncio.gather(*(doors.say(d, f"again{n}-{d}") for d in DOORS))

            assert await in_log(b, "den", f"after{n}") == []
            assert await in_log(b, "den", f"again{n}") == []
            left = await in_log(b, "den", f"r{n}-")
            assert all(m.sent_at < made for m in left), [(m.text, m.sent_at) for m in left]
            r = await carol.get("/api/v1/rooms/den/messages")
            assert r.json()["messages"] == [], r.text
            late = [m for m in left if m.sent_at >= answered]
            summary.append((sum(sent), len(left), len(late)))
            r = await carol.delete("/api/v1/rooms/den")
            assert r.status_code == 204, r.text
        await doors.close()
    print(f"deletion vs flood: {ROUNDS} rounds, (sent, left in the log, dated past the answer)")
    print(summary)


ACTS: dict[str, tuple[Act, Act]] = {  # the act on node a, and its undoing for the next round
    "ban": (
        lambda c: c.put("/api/v1/rooms/den/bans/bob"),
        lambda c: c.delete("/api/v1/rooms/den/bans/bob"),
    ),
    "kick": (lambda c: c.delete("/api/v1/rooms/den/members/bob"), lambda c: c.get("/healthz")),
}


@pytest.mark.postgres
@pytest.mark.parametrize("act", list(ACTS))
async def test_a_ban_or_kick_on_one_node_while_the_others_sessions_flood_the_room(
    make_node: NodeFactory,
    act: str,
) -> None:
    """alice bans (or kicks) bob from #den (members only: no_external) on node a while bob
    floods it from node b through every door; right after the answer each door sends once
    more and tries to come back (telnet `/join`, IRC `JOIN`, a WebSocket `subscribe`): no
    message bob sent after the answer lands, none is dated past it, and a banned bob is
    refused his way back in on every door."""
    take, undo = ACTS[act]
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await setup(a)
    await services(a).moderation.create("alice", "den")
    summary = []
    async with api(a, "alice") as alice, api(b, "bob") as bob_http:
        settings = {"no_external": True}
        assert (await alice.patch("/api/v1/rooms/den/settings", json=settings)).status_code == 200
        doors = await Doors.open(b, bob_http)
        for n in range(ROUNDS):
            await services(a).membership.become_member("bob", "den")
            await doors.enter("den")
            stop = asyncio.Event()
            floods = [asyncio.create_task(doors.flood(d, f"r{n}", stop)) for d in DOORS]
            await asyncio.sleep(0.02 * (n % 4))  # the act 0-60 ms into the flood
            r = await take(alice)
            assert r.status_code in (200, 204), r.text
            answered = datetime.now(UTC)
            stop.set()
            sent = await asyncio.gather(*floods)
            await asyncio.gather(*(doors.say(d, f"after{n}-{d}") for d in DOORS))
            landed = [m.text for m in await in_log(b, "den", f"after{n}")]
            assert landed == [], (landed, doors.http_codes[-3:], doors.irc.lines[-6:])
            flood = await in_log(b, "den", f"r{n}-")
            late = [m.text for m in flood if m.sent_at >= answered]
            assert late == [], late
            back = await comeback(doors) if act == "ban" else []
            assert back == [], back
            summary.append((sum(sent), len(flood)))
            assert (await undo(alice)).status_code in (200, 204)
        await doors.close()
    print(f"{act} vs flood: {ROUNDS} rounds, (lines sent, landed: all dated before the answer)")
    print(summary)


async def comeback(doors: Doors) -> list[str]:
    """A banned bob's way back into #den on each door: the doors that let him in."""
    await command(doors.tn, "/join den", r"^! .*banned")
    doors.irc.send("JOIN #den")
    line = await doors.irc.expect(" #den ")
    seen = len(doors.ws.frames)
    await doors.ws.send(type="subscribe", room="den")
    async with asyncio.timeout(30):
        while not (answer := [f for f in doors.ws.frames[seen:] if "#den" in frame_text(f)]):
            await asyncio.sleep(0.005)
    r = await doors.http.put("/api/v1/rooms/den/members/bob")
    let_in = [(" 474 " not in line, "irc"), ("banned" not in frame_text(answer[0]), "ws")]
    let_in.append((r.status_code != 403, "http"))
    return [door for wrong, door in let_in if wrong]


BURST = 10  # the moderation burst: each admin's unmutes past it are refused (429) at once


@pytest.mark.postgres
@pytest.mark.parametrize("held", [False, True], ids=["not-muted", "gone-behind"])
async def test_unmutes_of_nothing_flooded_on_two_nodes_publish_a_bounded_heal(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
    held: bool,
) -> None:
    """alice (node a) and carol (node b) each send 30 unmutes of bob at once, bob muted in
    neither the store nor the nodes ("not-muted"), or muted 600 minutes on both nodes with
    his row gone behind them (heal59's case: "gone-behind"): every answer is a 404 or a
    429, `MuteGone` (heal59) is published at most once a 404 (heal60: for every 404, a
    node started since holding nothing), and the read backs it costs each node are bounded
    by the admins' moderation bursts: none on a node holding no such mute."""
    limits = {**LIMITS, "moderation_burst": BURST}
    a, b = await make_node("a", limits=limits), await make_node("b", limits=limits)
    await setup(a)
    await services(a).moderation.create("alice", "hall")
    for name in ("bob", "carol"):
        await services(a).membership.become_member(name, "hall")
    await services(a).moderation.op("alice", "hall", "carol")
    if held:
        await services(a).moderation.mute("alice", "hall", "bob", 600)
        room = await services(a).store.get_room("hall")
        now = datetime.now(UTC)  # the unmuting node's write, then its death: no event
        assert await services(a).store.remove_mute("hall", "bob", now, room_created=room.created_at)
    gone: list[object] = []
    reads = {id(services(a).moderation): 0, id(services(b).moderation): 0}
    publish, kept = NodeEvents.publish, ModerationNotices._kept

    async def counting(self: NodeEvents, event: NodeEvent, *, settled: bool = False) -> None:
        if isinstance(event, MuteGone):
            gone.append(event)
        await publish(self, event, settled=settled)

    async def reading(self: ModerationNotices, ticket: asyncio.Event, room: str, user: str) -> None:
        reads[id(self)] += 1
        await kept(self, ticket, room, user)

    monkeypatch.setattr(NodeEvents, "publish", counting)
    monkeypatch.setattr(ModerationNotices, "_kept", reading)
    async with api(a, "alice") as alice, api(b, "carol") as carol, api(b, "bob") as bob:
        answers = await asyncio.gather(
            *(c.delete("/api/v1/rooms/hall/mutes/bob") for c in (alice, carol) for _ in range(30))
        )
        codes = sorted(r.status_code for r in answers)
        assert set(codes) == {404, 429}, [
            r.text for r in answers if r.status_code not in (404, 429)
        ]
        assert codes.count(404) <= 2 * BURST
        for node in (a, b):
            assert services(node).mutes.until("hall", "bob", datetime.now(UTC)) is None
        r = await bob.post("/api/v1/rooms/hall/messages", json={"text": "free?"})
        assert r.status_code == 201, r.text
    assert not [e for e in await audit(a, "hall") if e.action == "unmute"]
    assert len(gone) <= codes.count(404)  # one at most an unmute the burst let through
    if not held:
        assert list(reads.values()) == [0, 0]
    print(
        f"unmutes ({'gone behind' if held else 'not muted'}): 60 sent, 404 {codes.count(404)}, "
        f"429 {codes.count(429)}; MuteGone published {len(gone)}; read backs a {reads[id(services(a).moderation)]}, "
        f"b {reads[id(services(b).moderation)]}"
    )
