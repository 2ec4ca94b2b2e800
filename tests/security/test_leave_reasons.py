"""The reason of an IRC `PART` or `QUIT` is cleaned as a message is before it is told to
anyone (core/text.py, `clean_reason`). On main it went out as typed, so anyone could send
terminal escapes and bells to telnet users, and bidi overrides to every door, as the reason
of a leave: telnet showed `* mallory left #hall (\\x1b[2J...\\x07\\u202e...)`."""

from __future__ import annotations

from tests.helpers.http import PASSWORD, http_client, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import Ws
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

EVIL = "\x1b[2J\x1b[31m{}\x07\u202eevil\u200b"
BAD = ("\x1b", "\x07", "\u202e", "\u200b")


async def test_part_and_quit_reasons_are_cleaned_for_every_door(server: App) -> None:
    assert server.telnet_port is not None
    async with http_client(server) as http:
        await register(http, "mallory", "wendy")
    telnet = await TelnetClient.connect(server.telnet_port)
    await telnet.login("wendy")
    telnet.send("/join hall")
    await telnet.expect(r"^\* you are in #hall")
    ws = await Ws.open(server, "wendy")
    await ws.subscribe("hall")
    watcher = await RawIrc.connect(server)
    watcher.send(f"PASS wendy:{PASSWORD}")
    await watcher.register("wendy")
    watcher.send("JOIN #hall")
    await watcher.expect(" 366 ")

    mallory = await RawIrc.connect(server)
    mallory.send(f"PASS mallory:{PASSWORD}")
    await mallory.register("mallory")
    mallory.send("JOIN #hall")
    await mallory.expect(" 366 ")
    mallory.send(f"PART #hall :{EVIL.format('parting')}")
    part = await watcher.expect(" PART #hall")
    left = (await telnet.expect(r"mallory left #hall")).group(0)
    notice = await ws.next("notice", "mallory left #hall")
    mallory.send("JOIN #hall")
    await watcher.expect(" JOIN #hall")
    mallory.send(f"QUIT :{EVIL.format('quitting')}")
    quit_line = await watcher.expect(" QUIT ")
    quit_notice = await ws.next("notice", "mallory left #hall")
    await telnet.expect(r"mallory left #hall \(.*quitting")

    # the raw bytes after the login (whose password prompt conceals with escapes of its own)
    raw = telnet.raw.decode("utf-8", "replace").split("Welcome", 1)[1]
    assert "parting" in raw and "quitting" in raw
    for shown in (part, left, notice["text"], quit_line, quit_notice["text"], raw):
        assert not [c for c in BAD if c in shown], repr(shown)
    await ws.close()
    for c in (watcher, mallory):
        await c.close()
    await telnet.close()
