"""The load generator's IRC receiver (bench/users.py): what it costs a chunk of the fan-out's
lines, and that it still answers every server PING. The bench's p99 follows the generator's
CPU a delivery (bench/JOURNAL.md, stop 58): a search for PING in every chunk made an IRC
receiver dearer than a telnet one, so the IRC door's tail was partly the generator's."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from users import IrcUser, User


class Searched(bytes):
    """A chunk that counts the substring searches made in it (`in` a bytes needle,
    `startswith`): an int's `in` (memchr) is not counted."""

    searches = 0

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, int):
            Searched.searches += 1
        return bytes.__contains__(self, item)  # type: ignore[operator]

    def startswith(self, *args: Any) -> bool:
        Searched.searches += 1
        return bytes.startswith(self, *args)


class Wire(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent.append(bytes(data))


def receiver() -> tuple[IrcUser, Wire, list[bytes]]:
    got: list[bytes] = []

    def sink(_user: User, lines: bytes) -> None:
        got.append(bytes(lines))

    user = IrcUser.__new__(IrcUser)  # no loop needed: `lines` is all that is driven
    user.sink = sink
    wire = Wire()
    user.transport = wire
    return user, wire, got


def test_a_chunk_of_room_lines_is_not_searched_for_ping() -> None:
    user, wire, got = receiver()
    chunk = (
        b":s000!s000@127.0.0.1 PRIVMSG #bench :^7 1234567890\r\n"
        b":s000!s000@127.0.0.1 PRIVMSG #bench :^8 1234567891\r\n"
    )
    Searched.searches = 0
    user.lines(Searched(chunk))
    assert Searched.searches == 0
    assert got == [chunk]
    assert wire.sent == []


def test_every_ping_is_answered_in_order_and_the_lines_go_on() -> None:
    user, wire, got = receiver()
    first = b"PING :one\r\n:s000!s000@127.0.0.1 PRIVMSG #bench :^7 1\r\nPING :two\r\n"
    user.lines(first)
    user.lines(b":torbit NOTICE r00001 :hi\r\nPING :three\r\n")
    user.lines(b":s000!s000@127.0.0.1 PRIVMSG #bench :PING :not a ping\r\n")
    assert wire.sent == [b"PONG :one\r\n", b"PONG :two\r\n", b"PONG :three\r\n"]
    assert got[0] == first and len(got) == 3
