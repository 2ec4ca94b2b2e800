"""A WebSocket client streaming frames (pings, here) while reading the answers: it was
answered 73,000 times a second, where IRC paces every command and the line doors every
byte (hostile probe, stop 46). Its frames come out of the connection's input budget now
(`limits.input_rate`, each frame at least `FRAME_COST`): past it, the server stops reading
for a while, and TCP pushes back. Counted: the answers can never outrun the budget over the
time they took; an honest user on another WebSocket chats on meanwhile."""

from __future__ import annotations

import json
import time

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.moderation import Ws, api, create_room
from torbit.frontends.http.ws import FRAME_COST

RATE, BURST = 4 * FRAME_COST, 8 * FRAME_COST  # 8 frames at once, then 4 a second
SENT = 100


async def test_frames_past_the_input_budget_wait(make_server: ServerFactory) -> None:
    app = await make_server(limits={"input_rate": RATE, "input_burst": BURST})
    async with api(app, "owner") as owner:
        await register(owner, "owner", "flood", "honest")
        await create_room(owner, "den")
    flood, honest = await Ws.open(app, "flood"), await Ws.open(app, "honest")
    await honest.subscribe("den")
    started = time.monotonic()
    for _ in range(SENT):
        await flood.ws.send(json.dumps({"type": "ping"}))
    answered = BURST // FRAME_COST + 4  # the burst, then at least one refill's worth
    for _ in range(answered):
        await flood.next("pong")
    took = time.monotonic() - started
    # before: all 100 answered at once; the +1 is the frame read when the budget ran out
    assert answered <= (BURST + RATE * took) / FRAME_COST + 1, took
    held = app.metrics.registry.get_sample_value("torbit_input_held_total", {"door": "http-ws"})
    assert held and held >= 1

    await honest.send(type="send", room="den", text="still here")  # its own budget
    message = await honest.next("message", "still here")
    assert message["message"]["sender"] == "honest"
    pongs = sum(1 for f in flood.frames if f["type"] == "pong")
    assert pongs < SENT, pongs  # the rest still wait: paced, not cut
    flood.ws.transport.abort()  # its close frame would wait behind the pings it sent
    await flood.close()
    await honest.close()


async def test_a_frame_costs_its_utf8_bytes(make_server: ServerFactory) -> None:
    """Counted in characters, a frame of 4-byte characters cost a quarter of its size: 8
    such pings of 4 KB each went out of a budget of 8 KB at once."""
    app = await make_server(limits={"input_rate": RATE, "input_burst": BURST})
    async with api(app, "owner") as owner:
        await register(owner, "owner", "wide")
    wide = await Ws.open(app, "wide")
    frame = json.dumps({"type": "ping", "pad": "\U0001f600" * FRAME_COST}, ensure_ascii=False)
    cost = len(frame.encode())  # 4 KB and a little, FRAME_COST characters and a little
    started = time.monotonic()
    for _ in range(12):
        await wide.ws.send(frame)
    answered = 4
    for _ in range(answered):
        await wide.next("pong")
    took = time.monotonic() - started
    # before: the 8 first at once (a burst of 8 frames by characters), the 4 here in ~0 s
    assert answered <= (BURST + RATE * took) / cost + 1, took
    wide.ws.transport.abort()
    await wide.close()
