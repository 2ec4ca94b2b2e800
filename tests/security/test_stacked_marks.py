"""Combining marks stack: a letter carrying hundreds of them ("Zalgo" text) is drawn far above
and below its line, over the messages around it on the web page (`.msg` does not clip) and
in graphical IRC clients. On main such a text went out as typed through every door; now a
run of more than `MAX_MARKS` (8) marks keeps its first 8 (core/text.py), whichever door it
came in by and whichever it is shown on, while real writing that uses marks (Vietnamese in
NFD, a Tibetan stack, a keycap emoji) comes through unchanged."""

from __future__ import annotations

import re
import unicodedata

from tests.helpers.http import register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import Ws, api, command, create_room, telnet
from torbit.app import App

ZALGO = "z" + "\u0301\u0316\u0489\u20dd" * 30 + "algo"  # acute, grave below, Cyrillic
# millions sign and enclosing circle (Me): 120 marks on one letter (an IRC line holds it)
WRITING = (
    unicodedata.normalize("NFD", "Tiếng Việt có dấu")
    + " \u0f67\u0f90\u0fb5\u0fa8\u0fb3\u0fba\u0fbc\u0fbb\u0f82"  # a Tibetan stack, 8 marks
    + " 1\ufe0f\u20e3"
)
MARKS = "[\u0300-\u036f\u0483-\u0489\u0f71-\u0fbc\u20d0-\u20f0\ufe00-\ufe0f\u200c\u200d]"


def longest_run(text: str) -> int:
    return max((len(m) for m in re.findall(f"{MARKS}+", text)), default=0)


async def test_stacked_marks_are_cut_on_every_door(server: App) -> None:
    async with api(server, "zed") as z:
        await register(z, "zed", "viv")
        await create_room(z, "hall")
        async with api(server, "viv") as v:
            assert (await v.put("/api/v1/rooms/hall/members/viv")).status_code == 200
        viv = await telnet(server, "viv")
        await command(viv, "/join hall", r"^\* you are (already )?in #hall")
        viv_ws = await Ws.open(server, "viv")
        await viv_ws.subscribe("hall")
        viv_irc = await RawIrc.connect(server)
        viv_irc.send("PASS viv:secret-pw")
        await viv_irc.register("viv")
        viv_irc.send("JOIN #hall")
        await viv_irc.expect(" 366 ")

        zed = await telnet(server, "zed")
        await command(zed, "/join hall", r"^\* you are (already )?in #hall")
        zed_ws = await Ws.open(server, "zed")
        zed_irc = await RawIrc.connect(server)
        zed_irc.send("PASS zed:secret-pw")
        await zed_irc.register("zed")
        zed.send(f"1 {ZALGO}")
        r = await z.post("/api/v1/rooms/hall/messages", json={"text": f"2 {ZALGO}"})
        assert r.status_code == 201, r.text
        r = await z.post("/send/hall/zed", content=f"3 {ZALGO}".encode())
        assert r.status_code in (200, 201, 204), r.text
        await zed_ws.send(type="send", room="hall", text=f"4 {ZALGO}")
        zed_irc.send(f"PRIVMSG #hall :5 {ZALGO}", f"PRIVMSG #hall :{WRITING}")

        await viv.expect(re.escape(WRITING))
        await viv_ws.next("message", WRITING)
        await viv_irc.expect(WRITING)
        texts = [f["message"]["text"] for f in viv_ws.frames if f["type"] == "message"]
        history = (await z.get("/api/v1/rooms/hall/messages")).json()["messages"]
        irc = [line for line in viv_irc.lines if " PRIVMSG #hall " in line]
        telnet_lines = [line for line in viv.seen if "<zed>" in line]
        for shown in (texts, [h["text"] for h in history], irc, telnet_lines):
            assert len(shown) == 6, shown
            assert [longest_run(s) for s in shown[:5]] == [8] * 5
            assert shown[5].endswith(WRITING)
        assert texts[0] == "1 z" + ("\u0301\u0316\u0489\u20dd" * 2) + "algo"
        for c in (viv, zed):
            await c.close()
        for w in (viv_ws, zed_ws):
            await w.close()


# astral marks: Glagolitic combining letters (above) and musical combining marks (below and
# above), 100 on one letter (an IRC line holds it); before, the cut knew only plane 0's marks
ASTRAL = "z" + "\U0001e000\U0001d17b\U0001e001\U0001d185" * 25 + "algo"


def marks_run(text: str) -> int:
    """The longest run of combining marks of any plane."""
    longest = run = 0
    for c in text:
        run = run + 1 if unicodedata.category(c) in ("Mn", "Me") else 0
        longest = max(longest, run)
    return longest


async def test_astral_marks_are_cut_too(server: App) -> None:
    async with api(server, "zed") as z:
        await register(z, "zed", "viv")
        viv = await telnet(server, "viv")
        zed_irc = await RawIrc.connect(server)
        zed_irc.send("PASS zed:secret-pw")
        await zed_irc.register("zed")
        zed_irc.send("JOIN #lobby")
        await zed_irc.expect(" 366 ")
        r = await z.post("/api/v1/rooms/lobby/messages", json={"text": f"1 {ASTRAL}"})
        assert r.status_code == 201, r.text
        zed_irc.send(f"PRIVMSG #lobby :2 {ASTRAL}", "PRIVMSG #lobby :3 done")
        await viv.expect("<zed> 3 done")
        history = (await z.get("/api/v1/rooms/lobby/messages")).json()["messages"]
        shown = [h["text"] for h in history if h["text"][0] in "12"]
        shown += [line for line in viv.seen if re.search("<zed> [12] ", line)]
        assert [marks_run(s) for s in shown] == [8] * 4, shown
        assert shown[0] == "1 z" + "\U0001e000\U0001d17b\U0001e001\U0001d185" * 2 + "algo"
        await viv.close()
        await zed_irc.close()
