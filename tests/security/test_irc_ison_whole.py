"""ISON and the 512-byte line. RPL_ISON (303) names the nicks online in one line, which a
client takes as the whole answer (HexChat and irssi mark every nick asked that the 303 leaves
out offline). Past 512 bytes `fit_lines` cut the answer between characters, so a prefix of
an online nick (`nnnn…n1` as `nnnn…`), which may be another user, was reported online
(attack4); then the answer held the whole nicks that fit, and dropped the rest, which read
as offline, as did every nick after the 32nd asked (leftovers). Now every nick asked is
looked up, and an answer that does not fit one line is no 303 at all but 416 (RFC 2812 4.9
leaves it to the client not to ask that much at once): fewer nicks per ISON are answered."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc

NICKS = [f"{'n' * 30}{i:02d}" for i in range(14)]  # 14 × 33 bytes: one 512-byte line's worth


async def answer_to(irc: RawIrc, line: str) -> list[str]:
    """The lines the server sends for `line`, up to the PONG of a PING sent after it."""
    irc.lines.clear()
    irc.send(line, "PING :done")
    await irc.expect("PONG")
    return irc.lines[:-1]


def named(answer: list[str]) -> list[str]:
    """The nicks of the one 303 in `answer`."""
    replies = [line for line in answer if " 303 " in line]
    assert len(replies) == 1, answer
    assert len(replies[0].encode()) + 2 <= 512
    _, _, nicks = replies[0].split(" 303 ", 1)[1].partition(" ")  # after the asker's nick
    return nicks.removeprefix(":").split()


async def test_an_ison_whose_answer_does_not_fit_a_line_is_refused_not_cut(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc={"guests": True, "server_name": "irc." + "s" * 50 + ".example"})
    online = []
    for nick in NICKS:
        client = await RawIrc.connect(app)
        await client.register(nick)
        online.append(client)
    asker = await RawIrc.connect(app)
    await asker.register("a" * 32)
    answer = await answer_to(asker, "ISON " + " ".join(NICKS))
    assert not [line for line in answer if " 303 " in line], answer
    refused = [line for line in answer if f" 416 {'a' * 32} ISON :" in line]
    assert refused and "fewer nicks" in refused[0], answer
    for half in (NICKS[:7], NICKS[7:]):  # asked in two, each answer fits: every nick named
        assert named(await answer_to(asker, "ISON " + " ".join(half))) == half
    for client in [*online, asker]:
        await client.close()


async def test_every_nick_asked_is_looked_up(make_server: ServerFactory) -> None:
    """The 33rd nick of an ISON was not looked up: online, it read as offline."""
    app = await make_server(irc={"guests": True})
    asker = await RawIrc.connect(app)
    await asker.register("ivy")
    others = [f"nobody{i}" for i in range(40)]
    assert named(await answer_to(asker, "ISON " + " ".join([*others, "ivy"]))) == ["ivy"]
    assert named(await answer_to(asker, "ISON :" + " ".join([*others[:3], "IVY"]))) == ["ivy"]
    await asker.close()
