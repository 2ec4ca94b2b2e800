"""ISON as real clients' notify lists send it. irssi (src/irc/notifylist/notify-ison.c)
packs nicks into each ISON while the line stays within its 510-byte limit, then cuts the line
at 510 bytes (src/irc/core/irc.c), and waits for the one 303: a 416 left its notify list
silent for the rest of the connection. HexChat stops a line past 460 bytes and WeeChat keeps
a line 93 bytes short of 512 (both use MONITOR here: we advertise it): answers to those fit
512 bytes, irssi's all-online full line did not."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc

MAX_MESSAGE_LEN = 510  # irssi's max_message_len: 512 less CR LF


def irssi_isons(nicks: list[str]) -> list[str]:
    """The ISON lines irssi's notify list sends for `nicks`, built as notify-ison.c does."""
    lines, cmd = [], ""
    for nick in nicks:
        if len(cmd) + len(nick) + 1 > MAX_MESSAGE_LEN:
            lines.append(("ISON :" + cmd[:-1])[:MAX_MESSAGE_LEN])
            cmd = ""
        cmd += nick + " "
    if cmd:
        lines.append(("ISON :" + cmd[:-1])[:MAX_MESSAGE_LEN])
    return lines


async def test_irssis_full_notify_line_all_online_is_answered(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc={"guests": True}, limits={"guests_per_address": 0})
    friends = [f"friend-{i:02d}-on-irc" for i in range(30)]  # 16 characters each
    first, *_ = lines = irssi_isons([*friends, "away-elsewhere"])
    assert len(lines) == 2 and len(first) == MAX_MESSAGE_LEN
    online = []
    for nick in friends:
        client = await RawIrc.connect(app)
        await client.register(nick)
        online.append(client)
    irssi = await RawIrc.connect(app)
    await irssi.register("irssi-user")
    irssi.lines.clear()
    irssi.send(first, "PING :done")
    await irssi.expect("PONG")
    replies = [line for line in irssi.lines if " 303 " in line or " 416 " in line]
    assert len(replies) == 1 and " 303 irssi-user :" in replies[0], irssi.lines
    asked = first.removeprefix("ISON :").split(" ")
    assert replies[0].split(" :", 1)[1].split(" ") == [n for n in asked if n in friends]
    for client in [*online, irssi]:
        await client.close()
