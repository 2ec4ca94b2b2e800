"""A kick's or ban's reason, given on any door, reaches the kicked user and the room on every
door: the telnet line, IRC's KICK, the WebSocket notice's `detail` (with its `kind`, `user`
and `by`), and the audit log. It is cleaned as IRC's KICK reason is (controls and IRC
formatting shown as U+FFFD, CR/LF never end a line) and cut to KICKLEN, never refused.
On main telnet's /kick and /ban and HTTP's kick and ban took no reason."""

from __future__ import annotations

import pytest

from tests.helpers.moderation import (
    Ws,
    api,
    audit,
    command,
    in_hall,
    irc_in_hall,
    open_hall,
)
from torbit.app import App
from torbit.core.moderation_limits import MAX_KICK_REASON_BYTES


@pytest.fixture
async def hall(server: App) -> App:
    """alice owns the public room #hall; bob and carol are members."""
    return await open_hall(server)


def trailing(line: str) -> str:
    """The last parameter of a line with a source (no colon before it if it needs none)."""
    return line.split(" :", 1)[1] if " :" in line else line.split()[-1]


async def test_a_telnet_kick_and_ban_tell_their_reason_on_every_door(hall: App) -> None:
    alice = await in_hall(hall, "alice")
    bob = await in_hall(hall, "bob")
    bob_ws = await Ws.open(hall, "bob")
    await bob_ws.subscribe("hall")
    carol = await irc_in_hall(hall, "carol")
    carol_ws = await Ws.open(hall, "carol")
    await carol_ws.subscribe("hall")

    await command(alice, "/kick bob  spamming the room ", r"^\* bob was kicked from #hall")
    assert alice.seen[-1].endswith("by alice (spamming the room)"), alice.seen[-1]
    await bob.expect(r"^\* you were kicked from #hall by alice \(spamming the room\)$")
    told = await bob_ws.next("notice", "you were kicked from #hall")
    assert (told["kind"], told["user"], told["by"], told["detail"]) == (
        "kick",
        "bob",
        "alice",
        "spamming the room",
    )
    seen = await carol_ws.next("notice", "bob was kicked from #hall")
    assert (seen["kind"], seen["detail"]) == ("kick", "spamming the room")
    kick = await carol.expect(" KICK #hall bob ")
    assert kick.startswith(":alice!") and trailing(kick) == "spamming the room", kick

    await command(bob, "/join hall", r"^\* you are (already )?in #hall")
    await command(
        alice, "/ban bob for good", r"^\* bob was banned from #hall by alice \(for good\)$"
    )
    await bob.expect(r"^\* you were banned from #hall by alice \(for good\)$")
    await carol.expect(" MODE #hall +b bob!*@*")
    assert trailing(await carol.expect(" KICK #hall bob ")) == "for good"
    banned = await carol_ws.next("notice", "bob was banned from #hall")
    assert (banned["kind"], banned["user"], banned["detail"]) == ("ban", "bob", "for good")
    # a kick without a reason is still one, told as before
    await command(alice, "/kick carol", r"^\* carol was kicked from #hall by alice$")
    assert trailing(await carol.expect(" KICK #hall carol ")) == "alice"  # IRC: the kicker

    entries = [(e.action, e.target, e.detail) for e in await audit(hall, "hall")]
    assert entries[:3] == [
        ("kick", "carol", ""),
        ("ban", "bob", "for good"),
        ("kick", "bob", "spamming the room"),
    ]
    for c in (alice, bob):
        await c.close()
    for w in (bob_ws, carol_ws):
        await w.close()
    await carol.close()


async def test_an_http_kick_reason_is_cleaned_and_cut_and_injects_no_line(hall: App) -> None:
    bob = await in_hall(hall, "bob")
    carol_telnet = await in_hall(hall, "carol")
    carol = await irc_in_hall(hall, "carol")
    bob_ws = await Ws.open(hall, "bob")
    await bob_ws.subscribe("hall")
    hostile = "bye\r\nPRIVMSG #hall :pwned\x02\x03" + "4red\x1b[2J\x07 end"
    shown = "bye\ufffd\ufffdPRIVMSG #hall :pwned\ufffd\ufffd4red\ufffd[2J\ufffd end"
    async with api(hall, "alice") as alice:
        r = await alice.delete("/api/v1/rooms/hall/members/bob", params={"reason": hostile})
        assert r.status_code == 204, r.text
        kick = await carol.expect(" KICK #hall bob ")
        assert trailing(kick) == shown, kick
        await bob.expect(r"^\* you were kicked from #hall by alice \(bye\ufffd\ufffdPRIVMSG")
        assert bob.seen[-1].endswith(" end)"), bob.seen[-1]
        told = await bob_ws.next("notice", "you were kicked")
        assert (told["kind"], told["by"], told["detail"]) == ("kick", "alice", shown)
        await carol_telnet.expect(r"^\* bob was kicked from #hall by alice \(bye")

        # a ban's reason too, and one too long is cut to KICKLEN (255 bytes), not refused
        await command(bob, "/join hall", r"^\* you are (already )?in #hall")
        long = "é" * 200  # 400 bytes
        r = await alice.put("/api/v1/rooms/hall/bans/bob", params={"reason": long})
        assert r.status_code == 204, r.text
        await carol.expect(" MODE #hall +b bob!*@*")
        assert trailing(await carol.expect(" KICK #hall bob ")) == "é" * 127  # 254 bytes
        assert MAX_KICK_REASON_BYTES == 255
        await carol_telnet.expect(r"^\* bob was banned from #hall by alice \(é{127}\)$")
        # the room was told each once, and no line was injected on any door
        r = await alice.post("/api/v1/rooms/hall/messages", json={"text": "marker"})
        assert r.status_code == 201, r.text
        await carol.expect(" PRIVMSG #hall marker")
        await carol_telnet.expect(r"<alice> marker$")
    commands = [line.split(" ")[1] for line in carol.lines if line.startswith(":")]
    assert commands.count("PRIVMSG") == 1, carol.lines  # the marker alone
    assert sum(" KICK #hall bob " in line for line in carol.lines) == 2
    kicked = [line for line in carol_telnet.seen if "was kicked" in line or "was banned" in line]
    assert len(kicked) == 2 and not [c for c in "".join(kicked) if c in "\x1b\x07\r\n"]
    entries = [(e.action, e.detail) for e in await audit(hall, "hall")]
    assert entries[:2] == [("ban", "é" * 127), ("kick", shown)]
    for c in (bob, carol_telnet):
        await c.close()
    await bob_ws.close()
    await carol.close()


async def test_a_topic_change_is_told_with_its_kind_and_injects_no_line(hall: App) -> None:
    carol = await irc_in_hall(hall, "carol")
    bob_ws = await Ws.open(hall, "bob")
    await bob_ws.subscribe("hall")
    async with api(hall, "alice") as alice:
        r = await alice.patch("/api/v1/rooms/hall", json={"topic": "a\r\nQUIT :x\x0304 b"})
        assert r.status_code == 200, r.text
        assert r.json()["topic"] == "a\ufffd\ufffdQUIT :x\ufffd04 b"
    told = await bob_ws.next("notice", "alice set the topic of #hall")
    assert (told["kind"], told["by"], told["detail"]) == ("topic", "alice", r.json()["topic"])
    line = await carol.expect(" TOPIC #hall ")
    assert trailing(line) == r.json()["topic"], line
    carol.send("PING done")
    await carol.expect("PONG")
    assert not [x for x in carol.lines if x.split(" ")[1:2] == ["QUIT"]], carol.lines
    await bob_ws.close()
    await carol.close()


async def test_a_leave_over_http_tells_its_reason_as_irc_part_does(hall: App) -> None:
    carol = await irc_in_hall(hall, "carol")
    bob_telnet = await in_hall(hall, "bob")  # online: his leave is told
    await carol.expect(" JOIN #hall")
    async with api(hall, "bob") as bob:
        r = await bob.delete("/api/v1/rooms/hall/members/bob", params={"reason": "off\r\nto bed"})
        assert r.status_code == 204, r.text
    assert trailing(await carol.expect(" PART #hall")) == "off\ufffd\ufffdto bed"
    await carol.close()
    await bob_telnet.close()
