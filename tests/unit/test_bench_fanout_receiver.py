"""The steady fan-out's receivers (bench/users.py, bench/loadgen.py's Tally and Feed): what
they do to each read, and that they still count and time every measured message. In stop
61's sitting the generator neared a whole core in the runs with the worst p99, so its own
work a read is what the tail measured (bench/JOURNAL.md, "Stop 62: gen62")."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from loadgen import Feed, Tally
from users import IAC, IrcUser, TelnetUser, User


class Counted(bytes):
    """A chunk that counts the calls made on it that walk or cut it: `split`, `rfind` and
    slices (a slice of a chunk is a bytes of its own, so a line split off is not counted)."""

    calls: ClassVar[dict[str, int]] = {}

    def _count(self, name: str) -> None:
        Counted.calls[name] = Counted.calls.get(name, 0) + 1

    def split(self, *args: Any, **kw: Any) -> list[bytes]:
        self._count("split")
        return bytes.split(self, *args, **kw)

    def rfind(self, *args: Any) -> int:
        self._count("rfind")
        return bytes.rfind(self, *args)

    def __getitem__(self, key: Any) -> Any:
        self._count("slice" if isinstance(key, slice) else "index")
        return bytes.__getitem__(self, key)


def sink_of(tally: Tally) -> Any:
    return getattr(tally, "take", tally)


def stamped(tally: Tally, upto: int) -> None:
    """Send times as a Feed keeps them, here message s at 5,000·s ns (not the time in its
    text: the receiver reads a message's sequence number only)."""
    sent = getattr(tally, "sent_ns", None)
    if sent is not None:
        sent.extend(5_000 * s for s in range(upto))


def line(seq: int, irc: bool = False) -> bytes:
    text = b"^%d %d" % (seq, 1_000_000 - seq)
    if irc:
        return b":s000!s000@127.0.0.1 PRIVMSG #bench :" + text + b"\r\n"
    return b"[23:50:01] <s000> " + text + b"\r\n"


def test_a_chunk_is_not_split_and_only_its_sequence_numbers_are_cut_out() -> None:
    tally = Tally()
    stamped(tally, 100)
    tally.lo, tally.hi = 10, 20
    chunk = line(12) + b"* r00007 joined #bench\r\n" + line(13, irc=True) + line(30)
    Counted.calls = {}
    sink_of(tally)(None, Counted(chunk))
    # main split the chunk into lines; now one slice a message, its sequence number alone
    assert Counted.calls == {"slice": 3}
    assert (tally.seen, tally.received) == (3, 2)


def test_counts_and_latencies_are_those_of_every_measured_line() -> None:
    tally = Tally()
    stamped(tally, 100)
    tally.lo, tally.hi = 10, 20
    sink = sink_of(tally)
    chunks = [
        line(9),  # sent before the window: seen, not counted
        line(10) + line(11, irc=True),
        b":server NOTICE r00001 :hi\r\n",  # no `^`
        b"[23:50:02] <alice> ^up ^ here\r\n" + line(12),  # `^` in someone else's line
        b"[23:50:02] <alice> ^\r\n",  # a `^` and nothing after it
        line(19) + line(20),  # 20: after the window
    ]
    for c in chunks:
        sink(None, Counted(c))
    assert tally.received == 4
    assert tally.seen == 9
    # each latency is the chunk's arrival time less that message's send time, as the feed
    # kept it: two lines of one chunk arrived at once
    lat = tally.latencies_ns
    assert len(lat) == 4
    arrivals = [lat[k] + 5_000 * s for k, s in enumerate((10, 11, 12, 19))]
    assert arrivals[0] == arrivals[1] <= arrivals[2] <= arrivals[3]


class Said(User):
    def __init__(self) -> None:
        self.said: list[bytes] = []
        self.lost = False

    def say(self, text: bytes) -> None:
        self.said.append(text)

    def say_all(self, texts: Sequence[bytes]) -> None:
        self.said.extend(texts)


async def test_the_feed_keeps_each_send_time_it_writes() -> None:
    tally = Tally()
    sender = Said()
    feed = Feed([sender], 2000.0, tally.sent_ns)
    task = asyncio.create_task(feed.run())
    await asyncio.sleep(0.05)
    feed.stop()
    await task
    assert len(sender.said) == feed.seq == len(tally.sent_ns) > 10
    for seq, text in enumerate(sender.said):
        assert text == b"^%d %d" % (seq, tally.sent_ns[seq])


class Wire(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def write(self, data: Any) -> None:
        self.sent.append(bytes(data))


async def live(cls: type[User]) -> tuple[User, list[bytes]]:
    got: list[bytes] = []
    user = cls("r00001", "bench", lambda _u, lines: got.append(bytes(lines)))
    user.transport = Wire()
    user.live = True
    return user, got


async def test_a_read_that_ends_a_line_goes_to_the_sink_as_it_is() -> None:
    for cls in (TelnetUser, IrcUser):
        user, got = await live(cls)
        Counted.calls = {}
        user.data_received(Counted(line(1) + line(2)))
        assert Counted.calls == {"index": 1}  # its last byte; main searched it (rfind)
        # a line cut across reads is held and completed; telnet commands are taken out
        user.data_received(line(3)[:9])
        user.data_received(line(3)[9:] + line(4)[:5])
        if cls is TelnetUser:
            user.data_received(bytes((IAC, 251, 1)))  # IAC WILL ECHO alone in a read
        user.data_received(line(4)[5:])
        assert got == [line(1) + line(2), line(3), line(4)]
        assert user.bytes_received == sum(map(len, got))  # telnet commands not counted
