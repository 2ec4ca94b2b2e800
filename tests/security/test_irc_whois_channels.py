"""WHOIS of a user in many rooms (attack4, IRC long-line fitting): RPL_WHOISCHANNELS (319)
listed every channel in one line, and a line past 512 bytes had its last parameter cut
(`fit_lines`) between characters, not between channels: the asker lost the rest of the list
and saw a cut name (`#aaaa…aa07` as `#aaaa…a`), which may be another room, someone else's.
The list now fills as many 319 lines as it needs, each within 512 bytes, whole names only."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api
from torbit.app import App

ROOMS = [f"{'r' * 28}{i:02d}" for i in range(24)]  # 24 × "#" + 30 characters: ~750 bytes


async def logged_in(app: App, nick: str) -> RawIrc:
    irc = await RawIrc.connect(app)
    irc.send(f"PASS {nick}:{PASSWORD}")
    await irc.register(nick)
    return irc


async def test_whois_lists_every_channel_whole_within_512_bytes(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"create_rate": 0, "join_rate": 0})
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
    alice = await logged_in(app, "alice")
    for room in ROOMS:
        alice.send(f"JOIN #{room}")
        await alice.expect(f" 366 alice #{room} ")
    bob = await logged_in(app, "bob")
    bob.lines.clear()
    bob.send("WHOIS alice")
    await bob.expect(" 318 ")
    lines = [line for line in bob.lines if " 319 bob alice :" in line]
    assert all(len(line.encode()) + 2 <= 512 for line in lines), [len(x) for x in lines]
    shown = [c for line in lines for c in line.split(" :", 1)[1].split()]
    assert sorted(c.lstrip("~&@%+") for c in shown) == sorted(f"#{r}" for r in ROOMS), shown
    assert len(lines) >= 2
    await alice.close()
    await bob.close()
