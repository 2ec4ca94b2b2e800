"""TelnetConnection under any chunking: the same bytes give the same events and replies
whether they come whole, in pieces or a byte at a time (the byte-by-byte path is the plain
state machine; whole commands go through one regex match each), and hostile input is bounded:
an endless line is held to the limit and reported once, a run of escaped 0xFF is one feed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from torbit.protocol.lines import LineSplitter, Signal
from torbit.protocol.telnet import (
    IAC,
    SB,
    SE,
    WILL,
    Event,
    LineReceived,
    LineTooLong,
    TelnetConnection,
)

# bytes that mean something to the codec or the splitter, and some that do not
SPECIAL = [bytes([b]) for b in (255, 251, 252, 253, 254, 250, 240, 246, 244, 247, 248, 241)]
EDITING = [b"\r", b"\n", b"\x00", b"\x03", b"\x04", b"\x08", b"\x7f", b"\x1b", b"\t"]
TEXT = [b"a", b"hello ", "é".encode(), b"\xc3", b"\x85"]
PIECES = st.one_of(st.sampled_from(SPECIAL + EDITING + TEXT), st.binary(max_size=12))
STREAM = st.lists(PIECES, max_size=200).map(b"".join)


def run(data: bytes, cuts: list[int], *, password: bool, limit: int = 40) -> tuple[str, bytes, int]:
    """Events (as text: their classes are compared by value), replies and what stays buffered."""
    conn = TelnetConnection(limit)
    replies = conn.start_password_mode() if password else b""
    events: list[Event] = []
    start = 0
    for cut in [*cuts, len(data)]:
        events += conn.receive_data(data[start:cut])
        start = cut
    replies += conn.data_to_send()  # once at the end: AYT is answered once per batch
    return repr(events), replies, conn.buffered


@settings(max_examples=500, deadline=None)
@given(STREAM, st.lists(st.integers(0, 2400), max_size=8), st.booleans())
def test_any_chunking_gives_the_same_events_and_replies(
    data: bytes, cuts: list[int], password: bool
) -> None:
    cuts = sorted(c for c in cuts if c <= len(data))
    whole = run(data, [], password=password)
    assert run(data, cuts, password=password) == whole
    assert run(data, list(range(1, len(data))), password=password) == whole  # byte by byte


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"A" * 1000, bytes((IAC, WILL, 1)), b"\xff\xff", b"\x08"]), max_size=60
    )
)
def test_an_endless_line_in_any_pieces_is_bounded_and_reported_once(pieces: list[bytes]) -> None:
    conn = TelnetConnection(4096)
    events: list[Event] = []
    for piece in [*pieces, b"A" * 5000]:  # over the limit, whatever came before
        events += conn.receive_data(piece)
        assert conn.buffered <= 4096
    events += conn.receive_data(b"\r\nafter\r\n")
    assert events == [LineTooLong(4096), LineReceived("after")]


class CountingSplitter(LineSplitter):
    def __init__(self, max_line_bytes: int) -> None:
        super().__init__(max_line_bytes)
        self.feeds = 0

    def feed(self, data: bytes) -> list[bytes | Signal]:
        self.feeds += 1
        return super().feed(data)


def test_a_run_of_escaped_iac_is_one_feed_and_a_subnegotiation_none() -> None:
    conn = TelnetConnection(100_000)
    splitter = conn._lines = CountingSplitter(100_000)
    junk = bytes(range(255)) * 40
    events = conn.receive_data(
        b"x" + b"\xff\xff" * 10_000 + bytes((IAC, SB, 24)) + junk + bytes((IAC, SE)) + b"\r\n"
    )
    assert splitter.feeds <= 3  # "x", the 10,000 0xFF, the line end: not one per byte
    assert events == [LineReceived("x" + "\ufffd" * 10_000, lossy=True)]
