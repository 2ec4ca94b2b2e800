"""ISON of many long nicks (attack4, IRC long-line fitting). RPL_ISON (303) names the nicks
online in one line; past 512 bytes `fit_lines` cut it between characters, and the last nick
came out cut: a prefix of an online nick (`nnnn…n1` as `nnnn…`), which may be another user,
was reported online. The reply now holds the whole nicks that fit one line: a client takes
one 303 as the whole answer, so a second line would tell it the first's nicks went away."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc

NICKS = [f"{'n' * 30}{i:02d}" for i in range(14)]  # 14 × 33 bytes: one 512-byte line's worth


async def test_ison_names_whole_online_nicks_within_one_line(make_server: ServerFactory) -> None:
    app = await make_server(irc={"guests": True, "server_name": "irc." + "s" * 50 + ".example"})
    online = []
    for nick in NICKS:
        client = await RawIrc.connect(app)
        await client.register(nick)
        online.append(client)
    asker = await RawIrc.connect(app)
    await asker.register("a" * 32)
    asker.send("ISON " + " ".join(NICKS))
    line = await asker.expect(" 303 ")
    assert len(line.encode()) + 2 <= 512
    named = line.split(" :", 1)[1].split()
    assert named and set(named) <= set(NICKS), named
    assert named == NICKS[: len(named)]
    for client in [*online, asker]:
        await client.close()
