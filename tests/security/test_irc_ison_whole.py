"""ISON and the 512-byte line. RPL_ISON (303) names the nicks online in one line, which a
client takes as the whole answer (HexChat and irssi mark every nick asked that the 303 leaves
out offline). Past 512 bytes `fit_lines` cut the answer between characters, so a prefix of
an online nick (`nnnn…n1` as `nnnn…`), which may be another user, was reported online
(attack4); then the answer held the whole nicks that fit, and dropped the rest, which read
as offline, as did every nick after the 32nd asked (leftovers). Then every nick asked was
looked up, and an answer that did not fit 512 bytes was 416, which irssi's notify list (it
packs its ISONs to 510 bytes) never recovers from. Now the one 303 may pass 512 bytes by
its prefix's length, bounded by the request's line (queries.ISON_REPLY_MAX_BYTES)."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc

# a request's line (512) plus how much longer the longest answer's prefix is than `ISON `:
# `:` + a 63-character server name + ` 303 ` + a 32-character nick + ` :`
LONGEST_ANSWER = 512 + 1 + 63 + 5 + 32 + 2 - len("ISON ")
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
    assert len(replies[0].encode()) + 2 <= LONGEST_ANSWER
    _, _, nicks = replies[0].split(" 303 ", 1)[1].partition(" ")  # after the asker's nick
    return nicks.removeprefix(":").split()


async def test_an_ison_whose_answer_passes_512_bytes_is_one_whole_303_not_cut(
    make_server: ServerFactory,
) -> None:
    """The longest prefix there is (a 63-character server name, a 32-character nick) on
    nicks that fill the request's line: the 303 names them all, in one line past 512."""
    app = await make_server(
        irc={"guests": True, "server_name": "irc." + "s" * 51 + ".example"},
        limits={"guests_per_address": 0},
    )
    online = []
    for nick in NICKS:
        client = await RawIrc.connect(app)
        await client.register(nick)
        online.append(client)
    asker = await RawIrc.connect(app)
    await asker.register("a" * 32)
    request = "ISON " + " ".join(NICKS)
    answer = await answer_to(asker, request)
    assert named(answer) == NICKS and not [line for line in answer if " 416 " in line]
    assert [len(line) + 2 > 512 for line in answer if " 303 " in line] == [True]
    wider = request + " " + "x" * (510 - len(request) - 1)  # the widest line one may send
    answer = await answer_to(asker, wider)
    assert named(answer) == NICKS  # the unknown nick is offline
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
