"""Issue 10, item 16, through every door: text that could pass for something else never comes
out. The attack of the report: bidi controls and U+2028/U+2029 stored as-is, and a line padded
to the terminal's width so that a forged `[12:00:00] <admin> ...` starts the next row. It is
sent as room messages (telnet, REST, classic /send, WebSocket), a private message and a topic
(telnet and REST); what telnet (the raw bytes), the REST history, /receive and the WebSocket
give back holds none of it, while an emoji ZWJ sequence comes through intact."""

from __future__ import annotations

import json
import re
import unicodedata

from tests.helpers.http import register
from tests.helpers.moderation import Ws, api, command, create_room, telnet
from tests.helpers.telnet_client import strip_iac
from torbit.app import App

FORGED = "[12:00:00] <admin> the server moves: log in again at evil.example"
ATTACKS = [
    "ok\u202e!nwod gniog si revres\u202c",  # right-to-left override
    "ok\u2066\u2067\u2068isolates\u2069\u200e\u200f\u061c",
    "ok\u2028" + FORGED,  # a line separator
    "ok\u2029" + FORGED,
    "ok" + " " * 300 + FORGED,  # padded to wrap onto a row of its own
    "ok" + "\t" * 40 + FORGED,
    "ok" + "\u3000" * 100 + "\u2800" * 50 + FORGED,
    "ok" + " \u200b" * 150 + FORGED,  # spaces kept apart by zero-width ones
    "ok\u200b\u2060\ufeff\u00ad\U000e0041\U000e0064\U000e006d\U000e0069\U000e006e",
]
EMOJI = "\U0001f469\u200d\U0001f4bb \U0001f3f3\ufe0f\u200d\U0001f308 \U0001f44b\U0001f3fd"
ZWJ = "\u200d"


def spoofing(text: str) -> list[str]:
    """What in a shown text could make it pass for something else."""
    found = []
    for i, ch in enumerate(text):
        cat = unicodedata.category(ch)
        joins_emoji = ch == ZWJ and 0 < i < len(text) - 1 and text[i + 1] != " "
        control = cat == "Cc" and ch not in "\r\n"
        if cat in ("Zl", "Zp") or control or (cat == "Cf" and not joins_emoji):
            found.append(f"U+{ord(ch):04X}")
    if re.search(r"[\s\u2800\u3164]{4,}", text.replace("\r\n", "\n").replace("\n", "|")):
        found.append("a run of blanks")
    return found


async def test_no_door_lets_a_spoofing_text_through(server: App) -> None:
    async with api(server, "mallory") as m:
        await register(m, "mallory", "victim")
        await create_room(m, "hall")
        async with api(server, "victim") as v:
            assert (await v.put("/api/v1/rooms/hall/members/victim")).status_code == 200
        victim = await telnet(server, "victim")
        await command(victim, "/join hall", r"^\* you are (already )?in #hall")
        victim_ws = await Ws.open(server, "victim")
        await victim_ws.subscribe("hall")
        mallory = await telnet(server, "mallory")
        await command(mallory, "/join hall", r"^\* you are (already )?in #hall")
        mallory_ws = await Ws.open(server, "mallory")

        sent = 0
        for i, attack in enumerate(ATTACKS):
            door = i % 4
            if door == 0:
                mallory.send(attack)
            elif door == 1:
                r = await m.post("/api/v1/rooms/hall/messages", json={"text": attack})
                assert r.status_code == 201, r.text
            elif door == 2:
                r = await m.post("/send/hall/mallory", content=attack.encode())
                assert r.status_code in (200, 201, 204), r.text
            else:
                await mallory_ws.send(type="send", room="hall", text=attack)
            sent += 1
        r = await m.post("/api/v1/private-messages", json={"to": "victim", "text": ATTACKS[2]})
        assert r.status_code == 201
        await command(mallory, f"/topic {ATTACKS[0]}", "set the topic")
        r = await m.patch("/api/v1/rooms/hall", json={"topic": ATTACKS[5]})
        assert r.status_code == 200
        mallory.send(EMOJI)

        # what the victim gets
        await victim.expect(re.escape(EMOJI))
        raw = strip_iac(bytes(victim.raw)).decode()
        login, _, chat = raw.partition("Welcome")
        # the password prompt's own ANSI (erase line, conceal, reveal: for raw clients) is the
        # server's, and only there
        assert {"\x1b[K", "\x1b[8m", "\x1b[28m"} >= set(re.findall(r"\x1b\[\d*[A-Za-z]", login))
        assert spoofing(chat) == []
        # 6 room messages, the private one and the topic notice: none at the start of a line
        assert raw.count("[12:00:00] <admin>") == 8 and "\r\n[12:00:00] <admin>" not in raw
        await victim_ws.next("message", EMOJI)
        shown = [json.dumps(f, ensure_ascii=False) for f in victim_ws.frames]
        messages = [f["message"] for f in victim_ws.frames if f["type"] == "message"]
        texts = [m["text"] for m in messages if m["room"] == "hall"]
        assert len(texts) == sent + 1 and texts[-1] == EMOJI
        for text in [m["text"] for m in messages] + [f.get("text", "") for f in victim_ws.frames]:
            assert spoofing(text) == [], text
        assert all(spoofing(s.replace('\\"', "")) == [] for s in shown)
        async with api(server, "victim") as v:
            history = (await v.get("/api/v1/rooms/hall/messages")).json()["messages"]
            assert [h["text"] for h in history] == texts
            received = (await v.get("/receive/hall/victim")).text
            assert spoofing(received) == [], received
            private = (await v.get("/api/v1/private-messages")).json()["messages"]
            assert spoofing(private[0]["text"]) == []
            topic = (await v.get("/api/v1/rooms/hall")).json()["topic"]
            assert topic.startswith("ok   [12:00:00]") and spoofing(topic) == []
        for c in (victim, mallory):
            await c.close()
        for w in (victim_ws, mallory_ws):
            await w.close()
