"""A lone room message to the IRC door's listeners takes the door's one call (`Session.fan`,
frontends/irc/fanout.py): no `TransportWriter.write` per reader, the lines noted once per
cap set and flushed in one loop. On that path each client still gets its tags, in order,
its own lines only with echo-message, nothing from whom it ignores, and a client that stops
reading is still dropped (its QUIT may share a turn with one message, which then goes writer by
writer to stay after it). Writes are counted (the real writer's, wrapped), never timed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, joined
from tests.helpers.slow_reader import stop_reading
from torbit.app import App
from torbit.frontends.flow import TransportWriter
from torbit.frontends.irc import fanout

COUNT = 10


def count_message_writes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every chat line (PRIVMSG to #gen) a `TransportWriter.write` is given: the one-by-one
    path's; the fan path writes to the transport from the flush, with none."""
    seen: list[bytes] = []
    real: Callable[[TransportWriter, bytes], None] = TransportWriter.write

    def counted(self: TransportWriter, data: bytes) -> None:
        if b" PRIVMSG #gen :" in data:
            seen.append(data)
        real(self, data)

    monkeypatch.setattr(TransportWriter, "write", counted)
    return seen


async def one_by_one(sender: RawIrc, readers: list[RawIrc], texts: list[str]) -> None:
    """Each text sent alone (one message a turn, not a run), read by every reader first."""
    for text in texts:
        sender.send(f"PRIVMSG #gen :{text}")
        for c in readers:
            line = await c.expect("PRIVMSG #gen :")
            assert line.endswith(f" PRIVMSG #gen :{text}"), (text, line)


async def quiet(client: RawIrc, text: str) -> None:
    """`client` was sent no line with `text` (anything sent before its PONG would be before it)."""
    client.send("PING :quiet")
    await client.expect("PONG")
    assert not [line for line in client.lines if text in line], client.lines


async def gen(app: App, cleanup: list[Any]) -> tuple[RawIrc, RawIrc, list[RawIrc], list[RawIrc]]:
    """#gen's clients: gus (echo-message: shown his own lines), eve (not shown hers),
    ann and bob with no caps (`plain`), cat and dan with server-time and message-tags."""
    gus = await joined(app, "gus", "gen", caps="echo-message")
    eve = await joined(app, "eve", "gen")
    plain = [await joined(app, nick, "gen") for nick in ("ann", "bob")]
    tagged = [
        await joined(app, nick, "gen", caps="server-time message-tags") for nick in ("cat", "dan")
    ]
    cleanup.extend([gus, eve, *plain, *tagged])
    return gus, eve, plain, tagged


def as_before(plain: list[RawIrc], tagged: list[RawIrc], texts: list[str]) -> None:
    """gus's `texts` reached #gen's plain clients as the one-by-one path wrote them, and
    the tagged ones in order, each line with its time and msgid."""
    for c in plain:
        got = [line for line in c.lines if " PRIVMSG #gen :" in line]
        assert got == [f":gus!~gus@irc.torbit PRIVMSG #gen :{t}" for t in texts], got
    for c in tagged:
        got = [line for line in c.lines if " PRIVMSG #gen :" in line]
        assert all(line.startswith("@time=") and ";msgid=gen-" in line for line in got), got
        assert [line.rpartition(" :")[2] for line in got] == texts, got


async def test_a_lone_message_takes_the_fan_path_with_tags_order_and_echo_as_before(
    make_server: ServerFactory, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server(irc={"guests": True})
    gus, eve, plain, tagged = await gen(app, cleanup)
    writes = count_message_writes(monkeypatch)

    texts = [f"gus {i}" for i in range(COUNT)]
    await one_by_one(gus, [gus, eve, *plain, *tagged], texts)
    as_before(plain, tagged, texts)
    # the echo to gus (its session decides: `deliver`) is the only write a message
    assert len(writes) == COUNT, writes

    texts = [f"eve {i}" for i in range(COUNT)]
    await one_by_one(eve, [gus, *plain, *tagged], texts)
    await quiet(eve, "PRIVMSG #gen :eve")
    assert len(writes) == COUNT, writes  # no write at all for eve's: she has no echo


async def test_an_ignorer_gets_nothing_while_the_others_take_the_fan_path(
    make_server: ServerFactory, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server(irc={"guests": True})
    gus = await joined(app, "gus", "gen")
    ivan = await joined(app, "ivan", "gen")
    readers = [await joined(app, nick, "gen") for nick in ("ann", "bob", "cat")]
    cleanup.extend([gus, ivan, *readers])
    ivan.send("SILENCE +gus")
    await ivan.expect("SILENCE +gus!*@*")
    writes = count_message_writes(monkeypatch)

    texts = [f"gus {i}" for i in range(COUNT)]
    await one_by_one(gus, readers, texts)
    await quiet(ivan, "PRIVMSG #gen")
    assert writes == [], writes  # the readers' lines all left through the fan

    ivan.send("SILENCE -gus")  # he hears gus again, on the fan path with the others
    await ivan.expect("SILENCE -gus!*@*")
    await one_by_one(gus, [ivan, *readers], ["gus again"])
    assert writes == [], writes


async def test_a_reader_that_stops_reading_is_dropped_on_the_fan_path(
    make_server: ServerFactory, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server(irc={"guests": True, "max_output_buffer": 8192})
    slow = await joined(app, "slow", "gen")
    stop_reading(app, slow.writer, "slow")
    fast = await joined(app, "fast", "gen", caps="server-time")
    gus = await joined(app, "gus", "gen")
    cleanup.extend([slow, fast, gus])
    writes = count_message_writes(monkeypatch)

    text = "x" * 400
    for i in range(2000):  # ~0.9 MB: far past 8 KB and the small kernel buffers
        gus.send(f"PRIVMSG #gen :{i} {text}")
        line = await fast.expect("PRIVMSG #gen :")
        assert f"PRIVMSG #gen :{i} " in line, (i, line)
        if [line for line in fast.lines if " QUIT " in line]:
            break
    quits = [line for line in fast.lines if " QUIT " in line] or [await fast.expect(" QUIT ")]
    assert quits[0].startswith(":slow!") and "too slow" in quits[0], quits
    assert app.metrics.dropped_clients.labels("irc")._value.get() == 1
    # Every line to both left through the fan, but for one the drop's QUIT may share a turn
    # with (the departure is paced, doors.py): a message noted after something else was queued
    # to its readers in that turn is written reader by reader, to stay after it (fan_lines).
    after = fast.lines[fast.lines.index(quits[0]) + 1 :]
    assert len(writes) <= 1, len(writes)
    assert [w.decode().rstrip("\r\n") for w in writes] in ([], after[:1]), (writes, after[:1])


async def test_a_run_takes_the_fan_path_with_tags_order_echo_and_ignores_as_before(
    make_server: ServerFactory, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines a sender pipelines are published as a run (`Hub.dispatch_run`): its readers take
    it through the door's one call too (`fanout.fan_run`), no write per reader, the same
    bytes per cap set as one by one; the sender's own echo (echo-message) and an ignorer
    still decide on their own."""
    app = await make_server(irc={"guests": True})
    gus, eve, plain, tagged = await gen(app, cleanup)
    ivan = await joined(app, "ivan", "gen")
    cleanup.append(ivan)
    ivan.send("SILENCE +gus")
    await ivan.expect("SILENCE +gus!*@*")
    writes = count_message_writes(monkeypatch)

    texts = [f"run {i}" for i in range(COUNT)]
    gus.send(*[f"PRIVMSG #gen :{t}" for t in texts])  # one write: read at once, one run
    for c in [gus, eve, *plain, *tagged]:
        for t in texts:
            assert (await c.expect("PRIVMSG #gen :")).endswith(f" PRIVMSG #gen :{t}")
    as_before(plain, tagged, texts)
    await quiet(ivan, "PRIVMSG #gen")
    # gus's echoes, decided one by one, are the only writes: the readers' left through the fan
    assert len(writes) == COUNT and all(b":run " in w for w in writes), writes

    eve.send(*[f"PRIVMSG #gen :eve {i}" for i in range(COUNT)])
    for i in range(COUNT):
        assert (await gus.expect("PRIVMSG #gen :")).endswith(f"#gen :eve {i}")
    await quiet(eve, "PRIVMSG #gen :eve")
    # eve has no echo; ivan, who ignores someone, takes the run alone (deliver_all): one write
    assert len(writes) == COUNT + 1 and writes[-1].count(b":eve ") == COUNT, writes[COUNT:]


def count_groupings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The channel of every grouping the fan path makes (fanout.Grouping)."""
    made: list[str] = []
    real = fanout.Grouping.__init__

    def counted(self: fanout.Grouping, sessions: Sequence[Any], channel: str) -> None:
        made.append(channel)
        real(self, sessions, channel)

    monkeypatch.setattr(fanout.Grouping, "__init__", counted)
    return made


async def test_the_grouping_is_kept_between_messages_and_made_anew_after_a_change(
    make_server: ServerFactory, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server(irc={"guests": True})
    gus = await joined(app, "gus", "gen")
    ann = await joined(app, "ann", "gen")
    bob = await joined(app, "bob", "gen")
    cleanup.extend([gus, ann, bob])
    made = count_groupings(monkeypatch)
    writes = count_message_writes(monkeypatch)
    splits: list[frozenset[str]] = []
    real_apart = fanout._apart

    def counted_apart(g: fanout.Grouping, senders: frozenset[str], channel: str) -> Any:
        splits.append(senders)
        return real_apart(g, senders, channel)

    monkeypatch.setattr(fanout, "_apart", counted_apart)

    await one_by_one(gus, [ann, bob], [f"gus {i}" for i in range(COUNT)])
    assert len(made) == 1, made  # one grouping for them all
    assert splits == [frozenset({"gus"})], splits  # its copy without gus, made once
    assert writes == [], writes

    # a cap asked for mid-session: her very next line has its tag
    ann.send("CAP REQ :server-time")
    await ann.expect(" ACK ")
    await one_by_one(gus, [ann, bob], ["after cap"])
    assert ann.lines[-1].startswith("@time="), ann.lines[-1]
    assert not bob.lines[-1].startswith("@"), bob.lines[-1]
    assert len(made) == 2, made

    # a guest's new nick: what she sends under it is still not echoed to her
    ann.send("NICK anna")
    await ann.expect(" NICK ")
    await one_by_one(ann, [gus, bob], ["from anna"])
    await quiet(ann, "PRIVMSG #gen :from anna")

    # joining another room and parting: #gen still reaches her in order; bob, gone, hears none
    ann.send("JOIN #other")
    bob.send("PART #gen")
    await ann.expect(" 366 anna #other ")
    await bob.expect(" PART #gen")
    await one_by_one(gus, [ann], ["after part 1", "after part 2"])
    await quiet(bob, "after part")
    # messages to #other take a grouping of their own, she in it (no write of her own)
    gus.send("JOIN #other")
    await gus.expect(" 366 gus #other ")
    gus.send("PRIVMSG #other :in other")
    await ann.expect("PRIVMSG #other :in other")
    assert writes == [], writes


async def test_a_user_with_two_clients_in_the_room_is_taken_out_of_the_kept_groups(
    make_server: ServerFactory, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grouping keeps each user's sessions among the groups; a message from a user with
    two clients there is shown to the other one and, without echo-message, not to the one
    that sent it, message after message from the same kept grouping."""
    app = await make_server(irc={"guests": True})
    assert app.core is not None
    await app.core.accounts.register("ivy", PASSWORD)
    gus = await joined(app, "gus", "gen")
    ivy1 = await joined(app, "ivy", "gen", password=PASSWORD)
    ivy2 = await joined(app, "ivy", "gen", password=PASSWORD, caps="server-time")
    cleanup.extend([gus, ivy1, ivy2])
    made = count_groupings(monkeypatch)

    await one_by_one(gus, [ivy1, ivy2], ["gus 1"])
    texts = [f"ivy {i}" for i in range(COUNT)]
    await one_by_one(ivy1, [gus, ivy2], texts)
    await quiet(ivy1, "PRIVMSG #gen :ivy")
    got = [line for line in ivy2.lines if "PRIVMSG #gen :ivy" in line]
    assert all(line.startswith("@time=") for line in got), got
    await one_by_one(ivy2, [gus, ivy1], ["from the other"])
    await quiet(ivy2, "PRIVMSG #gen :from the other")
    assert len(made) == 1, made
