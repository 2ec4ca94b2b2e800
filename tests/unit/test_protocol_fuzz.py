"""Property tests and abuse cases for the telnet layer and the IRC codec: whatever a client
sends, we neither crash, nor buffer without bound, nor answer more than we are asked, nor
depend on how TCP happened to cut the stream."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import torbit.protocol.lines as lines_module
from torbit.protocol.irc import Event as IRCEvent
from torbit.protocol.irc import (
    InvalidLine,
    IRCParser,
    MessageReceived,
    parse_line,
)
from torbit.protocol.irc import LineTooLong as IRCLineTooLong
from torbit.protocol.irc import Message as IRCMessage
from torbit.protocol.lines import LineSplitter, Signal
from torbit.protocol.telnet import (
    AYT_REPLY,
    DO,
    DONT,
    IAC,
    SB,
    SE,
    WILL,
    WONT,
    Event,
    Interrupt,
    LineReceived,
    LineTooLong,
    TelnetConnection,
)

# No deadline: a slow CI machine must not fail a test. Nothing in this suite asserts on time.
props = settings(deadline=None, max_examples=300)

# -- strategies --------------------------------------------------------------------------------

OPTIONS = [0, 1, 3, 24, 31, 34, 255]
VERBS = [WILL, WONT, DO, DONT]
TOKENS = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\0",
    b"\0",
    b"\t",
    b"\x08",
    b"\x7f",
    b"\x03",
    b"\x04",
    b"\x1b[1m",
    b"\xff",
    b"\xff\xff",
    b"\xff\xf0",
    b"\xff\xfa",
    "é".encode(),
    "日".encode(),
    "🎉".encode(),
    "\u009b".encode(),
    b"\xe6\x97",
    b"\x80",
]


@st.composite
def negotiation(draw: st.DrawFn) -> bytes:
    return bytes((IAC, draw(st.sampled_from(VERBS)), draw(st.sampled_from(OPTIONS))))


@st.composite
def subnegotiation(draw: st.DrawFn) -> bytes:
    raw = draw(
        st.lists(st.one_of(st.integers(0, 255), st.sampled_from(b"\xff\xf0\r\n")), max_size=40)
    )
    payload = bytes(raw).replace(b"\xff", b"\xff\xff")
    return bytes((IAC, SB, draw(st.sampled_from(OPTIONS)))) + payload + bytes((IAC, SE))


def quiet_command() -> st.SearchStrategy[bytes]:
    """Commands that must leave the text and its events untouched."""
    two_byte = st.sampled_from([241, 242, 245, 246, 249, 240, 0, 100]).map(
        lambda c: bytes((IAC, c))
    )
    return st.one_of(two_byte, negotiation(), subnegotiation())


any_command = st.integers(0, 255).map(lambda c: bytes((IAC, c)))
soup = st.lists(
    st.one_of(
        st.binary(max_size=30),
        st.sampled_from(TOKENS),
        negotiation(),
        subnegotiation(),
        any_command,
        st.text(max_size=10).map(str.encode),
    ),
    max_size=40,
).map(b"".join)
limits = st.integers(min_value=1, max_value=64)


@st.composite
def split_soup(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = draw(soup)
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=20))
    return data, sorted(cuts)


def pieces(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    start = 0
    for cut in [*cuts, len(data)]:
        yield data[start:cut]
        start = cut


# -- a byte-at-a-time reference for the line splitter ------------------------------------------


def reference_lines(data: bytes, limit: int) -> list[bytes | Signal]:
    """The splitter's rules, written as plainly as possible: one byte at a time."""
    out: list[bytes | Signal] = []
    line = bytearray()
    discarding = after_cr = False
    for b in data:
        if after_cr:
            after_cr = False
            if b in (0x0A, 0x00):
                continue
        if discarding:
            if b in (0x0A, 0x0D):
                discarding, after_cr = False, b == 0x0D
            continue
        if b in (0x0A, 0x0D):
            out.append(bytes(line))
            line.clear()
            after_cr = b == 0x0D
        elif b in (0x08, 0x7F):
            tail = 1  # how many bytes the last character has
            while tail < len(line) and tail < 4 and line[-tail] & 0xC0 == 0x80:
                tail += 1
            lead = line[-tail] if line else 0
            size = (
                2
                if 0xC0 <= lead < 0xE0
                else 3
                if 0xE0 <= lead < 0xF0
                else 4
                if 0xF0 <= lead < 0xF8
                else 1  # not a lead byte: the stray continuation bytes are one character each
            )
            del line[-(tail if tail > 1 and tail == size else 1) :]
        elif b in (0x03, 0x04):
            if not line:
                out.append(Signal.INTERRUPT)
        elif b < 0x20 and b != 0x09:
            pass
        elif len(line) == limit:
            line.clear()
            discarding = True
            out.append(Signal.TOO_LONG)
        else:
            line.append(b)
    return out


@props
@given(st.data(), limits)
def test_splitter_matches_the_bytewise_reference(data: st.DataObject, limit: int) -> None:
    stream = data.draw(soup)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    splitter = LineSplitter(limit)
    got: list[bytes | Signal] = []
    for piece in pieces(stream, cuts):
        got += splitter.feed(piece)
    assert got == reference_lines(stream, limit)


@props
@given(st.lists(st.sampled_from([b"ab", b"\r\n", b"\n", b"xyz", "é".encode(), b"\r"]), max_size=60))
def test_splitter_bulk_path_matches_the_reference(parts: list[bytes]) -> None:
    """Chunks of many plain lines take the bulk path; it must agree with the careful one."""
    stream = b"".join(parts)
    assert LineSplitter(5).feed(stream) == reference_lines(stream, 5)


# -- properties of the whole connection --------------------------------------------------------


def run(conn: TelnetConnection, chunks: Iterator[bytes] | list[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events += conn.receive_data(chunk)
    return events


@props
@given(split_soup(), limits)
def test_any_split_gives_the_same_events_and_replies(
    case: tuple[bytes, list[int]], limit: int
) -> None:
    data, cuts = case
    whole = TelnetConnection(limit)
    split = TelnetConnection(limit)
    assert run(split, pieces(data, cuts)) == whole.receive_data(data)
    assert split.data_to_send() == whole.data_to_send()
    assert split.buffered == whole.buffered


@props
@given(soup)
def test_bytewise_feeding_gives_the_same_events(data: bytes) -> None:
    whole = TelnetConnection(16)
    bytewise = TelnetConnection(16)
    assert run(bytewise, [data[i : i + 1] for i in range(len(data))]) == whole.receive_data(data)
    assert bytewise.data_to_send() == whole.data_to_send()


def assert_clean(event: Event, limit: int) -> None:
    if isinstance(event, LineReceived):
        assert len(event.text) <= limit  # one character at most per byte (U+FFFD is 3 bytes)
        for char in event.text:
            assert char == "\t" or unicodedata.category(char) != "Cc", repr(event.text)
    elif isinstance(event, LineTooLong):
        assert event.limit == limit
    else:
        assert event == Interrupt()


@props
@given(st.lists(soup, max_size=5), limits)
def test_soup_never_raises_and_lines_are_clean(chunks: list[bytes], limit: int) -> None:
    conn = TelnetConnection(limit)
    for chunk in chunks:
        for event in conn.receive_data(chunk):
            assert_clean(event, limit)
        assert conn.buffered <= limit


@props
@given(st.lists(soup, max_size=8), limits)
def test_memory_is_bounded(chunks: list[bytes], limit: int) -> None:
    conn = TelnetConnection(limit)
    for chunk in chunks:
        conn.receive_data(chunk)
        assert conn.buffered <= limit
        # refusals are bits of an int, one per telnet option (0-255); our states two bits each
        assert 0 <= conn._refused_do < 1 << 256
        assert 0 <= conn._refused_will < 1 << 256
        assert 0 <= conn._us < 1 << 512


@props
@given(st.lists(st.tuples(st.binary(max_size=20), quiet_command()), max_size=20), limits)
def test_commands_leave_no_trace_in_the_text(pairs: list[tuple[bytes, bytes]], limit: int) -> None:
    """Text with commands between (and inside) its bytes reads the same as the bare text."""
    text = b"".join(t.replace(b"\xff", b"") for t, _ in pairs)
    mixed = b"".join(t.replace(b"\xff", b"") + c for t, c in pairs)
    assert TelnetConnection(limit).receive_data(mixed) == TelnetConnection(limit).receive_data(text)


def replies(out: bytes) -> list[bytes]:
    """Split our output into whole commands (or the AYT answer); fail on anything else."""
    found: list[bytes] = []
    while out:
        if out.startswith(AYT_REPLY):
            found.append(AYT_REPLY)
            out = out[len(AYT_REPLY) :]
            continue
        assert out[0] == IAC and out[1] in (WILL, WONT, DO, DONT), out
        found.append(out[:3])
        out = out[3:]
    return found


@props
@given(st.lists(st.one_of(negotiation(), any_command), max_size=200), st.integers(1, 5))
def test_replies_never_outgrow_requests(requests: list[bytes], repeat: int) -> None:
    """Outside password mode our options never change, so each refusal is sent at most once
    however often the request is repeated, and nothing else but the AYT answer ever is."""
    conn = TelnetConnection()
    sent: list[bytes] = []
    for _ in range(repeat):
        conn.receive_data(b"".join(requests))
        sent += replies(conn.data_to_send())
    negotiations = [r for r in sent if r != AYT_REPLY]
    assert len(negotiations) == len(set(negotiations))
    assert all(r[1] in (WONT, DONT) for r in negotiations)
    assert sent.count(AYT_REPLY) <= repeat


@props
@given(st.lists(st.one_of(negotiation(), st.sampled_from(["start", "end"])), max_size=60))
def test_negotiation_in_and_out_of_password_mode_stays_well_formed(
    steps: list[bytes | str],
) -> None:
    conn = TelnetConnection()
    for step in steps:
        if step == "start":
            replies(conn.start_password_mode())
        elif step == "end":
            replies(conn.end_password_mode())
        else:
            assert isinstance(step, bytes)
            assert conn.receive_data(step) == []
            assert len(replies(conn.data_to_send())) <= 1  # at most one answer per request


# -- the 1 MB line -----------------------------------------------------------------------------

MEGABYTE = 1024 * 1024


@pytest.mark.parametrize(
    ("chunk", "end"),
    [
        (1, b"\r\n"),
        (1024, b"\r\n"),
        (MEGABYTE + 100, b"\r\n"),
        (1024, b"\n"),
        (1024, b"\r\0"),
        (1024, b"\r"),
        (1, b"\r"),
    ],
)
def test_megabyte_line_is_one_line_too_long(chunk: int, end: bytes) -> None:
    conn = TelnetConnection(max_line_bytes=4096)
    data = b"A" * MEGABYTE + end + b"the next line\r\n"
    events: list[Event] = []
    for i in range(0, len(data), chunk):
        events += conn.receive_data(data[i : i + chunk])
        assert conn.buffered <= 4096
    assert events == [LineTooLong(4096), LineReceived("the next line")]


def test_megabyte_line_full_of_escaped_iac_is_one_line_too_long() -> None:
    conn = TelnetConnection(max_line_bytes=4096)
    events = run(conn, [b"\xff\xff" * 1024] * 512 + [b"\nok\n"])
    assert events == [LineTooLong(4096), LineReceived("ok")]


class CountingPattern:
    """Stands in for a compiled regex and counts how many bytes its searches may look at."""

    def __init__(self, pattern: Any) -> None:
        self.pattern = pattern
        self.scanned = 0

    def search(self, data: bytes, pos: int = 0) -> Any:
        self.scanned += len(data) - pos
        return self.pattern.search(data, pos)


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_long_line_is_scanned_in_linear_work(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """No rescanning from the start: the bytes searched stay proportional to the bytes fed.
    (Counts work instead of timing it, so it cannot flake on a slow machine.)"""
    counters = {}
    for name in ("_SPECIAL", "_EDITING", "_LINE_END"):
        counters[name] = CountingPattern(getattr(lines_module, name))
        monkeypatch.setattr(lines_module, name, counters[name])
    limit = 256 * 1024
    conn = TelnetConnection(max_line_bytes=limit)
    data = b"x" * limit + b"\n" + b"y" * (limit + 1) + b"\nok\n"
    events = run(conn, [data[i : i + chunk] for i in range(0, len(data), chunk)])
    assert events == [LineReceived("x" * limit), LineTooLong(limit), LineReceived("ok")]
    assert sum(c.scanned for c in counters.values()) <= 3 * len(data)


def test_performance_sanity_many_plain_lines() -> None:
    """A busy client's worth of ordinary chat in 64 KB reads. Correctness only: no timing."""
    line = b"[15:04:05] <alice> the quick brown fox jumps over the lazy dog\r\n"
    data = line * 50_000
    conn = TelnetConnection()
    events = run(conn, [data[i : i + 65536] for i in range(0, len(data), 65536)])
    assert len(events) == 50_000
    assert events[0] == events[-1] == LineReceived(line[:-2].decode())
    assert conn.buffered == 0


# -- the IRC codec -----------------------------------------------------------------------------

IRC_TOKENS = [
    b"@",
    b":",
    b" ",
    b"  ",
    b";",
    b"=",
    b"\\",
    b"\\s",
    b"\r",
    b"\n",
    b"\r\n",
    b"\0",
    b"\t",
    b"PRIVMSG",
    b"#room",
    b"+tag",
    b"\x01ACTION",
    "é".encode(),
    "🎉".encode(),
    b"\xe6\x97",
    b"\xff",
    b"\x80",
]
irc_soup = st.lists(
    st.one_of(
        st.binary(max_size=30), st.sampled_from(IRC_TOKENS), st.text(max_size=10).map(str.encode)
    ),
    max_size=50,
).map(b"".join)
irc_limits = st.tuples(st.integers(3, 40), st.integers(2, 40))  # body, tags


@st.composite
def split_irc_soup(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = draw(irc_soup)
    return data, sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))


def irc_run(parser: IRCParser, chunks: Iterator[bytes] | list[bytes]) -> list[IRCEvent]:
    events: list[IRCEvent] = []
    for chunk in chunks:
        events += parser.receive_data(chunk)
    return events


def reference_irc(data: bytes, body: int, tags: int) -> list[IRCEvent]:
    """The framing rules, written plainly: split the whole stream on LF, judge each line."""
    out: list[IRCEvent] = []
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        if len(line) > tags + body - 1:  # tags, the body without CR LF, a CR
            if line[:1] == b"@" and b" " not in line[:tags]:
                out.append(IRCLineTooLong(tags, tags=True))
            else:
                out.append(IRCLineTooLong(body))
        elif number < len(lines):  # the last one is unfinished
            event = parse_line(line, body, tags)
            if event is not None:
                out.append(event)
    return out


@props
@given(split_irc_soup(), irc_limits)
def test_irc_parser_matches_the_whole_stream_reference(
    case: tuple[bytes, list[int]], limits: tuple[int, int]
) -> None:
    data, cuts = case
    body, tags = limits
    parser = IRCParser(body, tags)
    assert irc_run(parser, pieces(data, cuts)) == reference_irc(data, body, tags)
    assert parser.buffered <= tags + body - 1


@props
@given(irc_soup, irc_limits)
def test_irc_bytewise_feeding_gives_the_same_events(data: bytes, limits: tuple[int, int]) -> None:
    bytewise = IRCParser(*limits)
    events = irc_run(bytewise, [data[i : i + 1] for i in range(len(data))])
    assert events == IRCParser(*limits).receive_data(data)


@props
@given(st.lists(irc_soup, max_size=6), irc_limits)
def test_irc_events_are_bounded_and_reencodable(
    chunks: list[bytes], limits: tuple[int, int]
) -> None:
    body, tags = limits
    parser = IRCParser(body, tags)
    for chunk in chunks:
        for event in parser.receive_data(chunk):
            if isinstance(event, IRCLineTooLong):
                assert event.limit == (tags if event.tags else body)
            elif isinstance(event, MessageReceived):
                message = event.message
                assert not any(c in "\0\r\n" for p in message.params for c in p)
                if not event.latin1:  # Latin-1 text may need more bytes as UTF-8
                    line = message.encode()
                    assert parse_line(line[:-2], body, tags) == event
            else:
                assert isinstance(event, InvalidLine)
        assert parser.buffered <= tags + body - 1


@pytest.mark.parametrize(
    ("chunk", "start"),
    [(1, b""), (1024, b""), (MEGABYTE + 100, b""), (1024, b"@"), (4096, b"@k=v "), (1, b"@k ")],
)
def test_irc_megabyte_line_is_one_line_too_long(chunk: int, start: bytes) -> None:
    parser = IRCParser()
    data = start + b"A" * MEGABYTE + b"\r\nPING :next line\r\n"
    events: list[IRCEvent] = []
    for i in range(0, len(data), chunk):
        events += parser.receive_data(data[i : i + chunk])
        assert parser.buffered <= 4096 + 511
    too_long = IRCLineTooLong(4096, tags=True) if start == b"@" else IRCLineTooLong(512)
    assert events == [too_long, MessageReceived(IRCMessage("PING", ("next line",)))]


class CountingBytes(bytes):
    """Bytes whose `find` counts how many bytes each search may look at."""

    scanned = 0

    def find(self, sub: Any, start: Any = 0, end: Any = None) -> int:
        CountingBytes.scanned += len(self) - (start or 0)
        return super().find(sub, start, end)


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_irc_long_line_is_scanned_in_linear_work(chunk: int) -> None:
    """No rescanning from the start: the bytes searched stay proportional to the bytes fed."""
    CountingBytes.scanned = 0
    parser = IRCParser()
    data = b"PING " + b"x" * 505 + b"\n" + b"y" * (256 * 1024) + b"\nPING ok\n"
    events = irc_run(
        parser, [CountingBytes(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    )
    assert events == [
        MessageReceived(IRCMessage("PING", ("x" * 505,))),
        IRCLineTooLong(512),
        MessageReceived(IRCMessage("PING", ("ok",))),
    ]
    assert CountingBytes.scanned <= 2 * len(data)


def test_irc_many_plain_lines() -> None:
    """A busy client's worth of chat in 64 KB reads. Correctness only: no timing."""
    line = b"@+draft/reply=abc PRIVMSG #room :the quick brown fox jumps over the lazy dog\r\n"
    data = line * 50_000
    parser = IRCParser()
    events = irc_run(parser, [data[i : i + 65536] for i in range(0, len(data), 65536)])
    assert len(events) == 50_000
    assert (
        events[0]
        == events[-1]
        == MessageReceived(
            IRCMessage(
                "PRIVMSG",
                ("#room", "the quick brown fox jumps over the lazy dog"),
                None,
                {"+draft/reply": "abc"},
            )
        )
    )
    assert parser.buffered == 0
