"""LineSplitter: line ends, line editing, control bytes and the line limit."""

from __future__ import annotations

import pytest

from torbit.protocol.lines import LineSplitter, LossyLine, Signal

TOO_LONG = Signal.TOO_LONG
INTERRUPT = Signal.INTERRUPT


def feed_bytewise(splitter: LineSplitter, data: bytes) -> list[bytes | Signal]:
    out: list[bytes | Signal] = []
    for i in range(len(data)):
        out += splitter.feed(data[i : i + 1])
    return out


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"hello\r\n", [b"hello"]),
        (b"hello\n", [b"hello"]),
        (b"hello\r\0", [b"hello"]),
        (b"hello\r", [b"hello"]),
        (b"a\rb\r", [b"a", b"b"]),
        (b"a\r\nb\nc\r\0d\re", [b"a", b"b", b"c", b"d"]),
        (b"\r\n\r\n", [b"", b""]),
        (b"\n\n", [b"", b""]),
        (b"a\r\r\n", [b"a", b""]),
        (b"a\n\r", [b"a", b""]),
        (b"a\r\n\n", [b"a", b""]),
        (b"a\r\0\0b\n", [b"a", b"b"]),  # a second NUL is just a dropped control byte
        (b"no end", []),
        (b"", []),
    ],
)
def test_line_ends(data: bytes, lines: list[bytes]) -> None:
    assert LineSplitter().feed(data) == lines
    assert feed_bytewise(LineSplitter(), data) == lines


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    s = LineSplitter()
    assert s.feed(b"one\r") == [b"one"]
    assert s.feed(b"\ntwo\r") == [b"two"]
    assert s.feed(b"\0three\r\n") == [b"three"]
    assert s.buffered == 0


def test_many_lines_in_one_chunk() -> None:
    lines = [f"line {i}".encode() for i in range(100)]
    assert LineSplitter().feed(b"\r\n".join(lines) + b"\r\n") == lines
    assert LineSplitter().feed(b"\n".join(lines) + b"\n") == lines


def test_unfinished_line_is_kept_for_the_next_feed() -> None:
    s = LineSplitter()
    assert s.feed(b"a\nb\nc\nhel") == [b"a", b"b", b"c"]
    assert s.buffered == 3
    assert s.feed(b"lo\nx\ny\nz") == [b"hello", b"x", b"y"]
    assert s.feed(b"\n") == [b"z"]
    assert s.buffered == 0


def test_tab_and_non_ascii_are_kept() -> None:
    data = "tab\there, café 日本 🎉\r\n".encode()
    assert LineSplitter().feed(data) == [data[:-2]]


@pytest.mark.parametrize("byte", sorted(set(range(0x20)) - {0x03, 0x04, 0x08, 0x09, 0x0A, 0x0D}))
def test_other_control_bytes_are_dropped(byte: int) -> None:
    data = b"a" + bytes([byte]) + b"b\n"
    assert LineSplitter().feed(data) == [b"ab"]
    assert feed_bytewise(LineSplitter(), data) == [b"ab"]


@pytest.mark.parametrize(
    ("data", "lossy"),
    [
        (b"a\x1bb\x07c\n", True),  # controls dropped
        (b"ab\x03c\n", True),  # a Ctrl-C inside a line is dropped too
        (b"ab\x08c\n", False),  # an edit loses nothing typed
        (b"a\tb\n", False),
        ("caf\u00e9\n".encode(), False),
    ],
)
def test_a_line_that_lost_a_control_byte_says_so(data: bytes, lossy: bool) -> None:
    """A password must not quietly become another one (frontends/telnet/login.py)."""
    for lines in (LineSplitter().feed(data), feed_bytewise(LineSplitter(), data)):
        assert len(lines) == 1 and (type(lines[0]) is LossyLine) == lossy, lines


def test_a_lost_byte_marks_its_line_only_whichever_path_takes_the_rest() -> None:
    s = LineSplitter()
    assert s.feed(b"\x1b") == []  # nothing kept of the line yet, but something lost
    lines = s.feed(b"ab\ncd\nef\ngh\n")  # many plain lines: the bulk path
    assert lines == [b"ab", b"cd", b"ef", b"gh"]
    assert [type(line) is LossyLine for line in lines] == [True, False, False, False]
    assert s.feed(b"\x1b") == []
    assert type(s.feed(b"ij\n")[0]) is LossyLine  # a whole plain line in one chunk
    s.feed(b"k\x1b")
    s.erase_line()  # telnet EL: the line is forgotten, and what it lost with it
    assert type(s.feed(b"ok\n")[0]) is bytes


def test_escape_sequences_lose_their_escape() -> None:
    assert LineSplitter().feed(b"\x1b[2Jhi\x1b]0;title\x07\n") == [b"[2Jhi]0;title"]


@pytest.mark.parametrize("erase", [b"\x08", b"\x7f"])
def test_backspace_and_del_delete_the_previous_byte(erase: bytes) -> None:
    assert LineSplitter().feed(b"abc" + erase + b"d\n") == [b"abd"]
    assert LineSplitter().feed(b"ab" + erase * 2 + b"x\n") == [b"x"]
    assert LineSplitter().feed(erase * 3 + b"x\n") == [b"x"]  # nothing to delete: harmless


@pytest.mark.parametrize("char", ["é", "€", "日", "🎉"])
def test_backspace_deletes_a_whole_utf8_character(char: str) -> None:
    data = ("a" + char).encode() + b"\x7f" + b"\n"
    assert LineSplitter().feed(data) == [b"a"]
    assert feed_bytewise(LineSplitter(), data) == [b"a"]


def test_backspace_twice_over_multibyte_characters() -> None:
    data = "x日🎉".encode() + b"\x08\x08\n"
    assert LineSplitter().feed(data) == [b"x"]


@pytest.mark.parametrize(
    ("line", "left"),
    [
        (b"a\x80\x80", b"a\x80"),  # continuation bytes without a lead: one byte at a time
        (b"\xe6\x97", b"\xe6"),  # an unfinished sequence: one byte
        (b"\xff", b""),
        (b"\x80\x80\x80\x80\x80", b"\x80\x80\x80\x80"),
        (b"\xf0\x9f\x8e\x89\x80", b"\xf0\x9f\x8e\x89"),  # a stray byte after a full character
    ],
)
def test_backspace_over_invalid_utf8_takes_one_byte(line: bytes, left: bytes) -> None:
    assert LineSplitter().feed(line + b"\x7f\n") == [left]


def test_backspace_cannot_reach_into_a_finished_line() -> None:
    assert LineSplitter().feed(b"abc\n\x7f\x7fd\n") == [b"abc", b"d"]


@pytest.mark.parametrize("byte", [b"\x03", b"\x04"])
def test_ctrl_c_or_d_on_an_empty_line_interrupts(byte: bytes) -> None:
    assert LineSplitter().feed(byte) == [INTERRUPT]
    assert LineSplitter().feed(b"hi\n" + byte) == [b"hi", INTERRUPT]
    assert LineSplitter().feed(b"x\x7f" + byte) == [INTERRUPT]  # emptied by backspace


@pytest.mark.parametrize("byte", [b"\x03", b"\x04"])
def test_ctrl_c_or_d_inside_a_line_is_dropped(byte: bytes) -> None:
    assert LineSplitter().feed(b"ab" + byte + b"c\n") == [b"abc"]


def test_erase_char_and_erase_line() -> None:
    s = LineSplitter()
    s.feed("ab€".encode())
    s.erase_char()
    assert s.buffered == 2
    s.erase_line()
    assert s.buffered == 0
    s.erase_char()  # on an empty line: nothing happens
    assert s.feed(b"ok\n") == [b"ok"]


def test_line_at_the_limit_is_accepted() -> None:
    s = LineSplitter(10)
    assert s.feed(b"x" * 10 + b"\n") == [b"x" * 10]
    assert feed_bytewise(s, b"y" * 10 + b"\r\n") == [b"y" * 10]


def test_line_over_the_limit_is_reported_once_and_discarded() -> None:
    s = LineSplitter(10)
    assert s.feed(b"x" * 11) == [TOO_LONG]
    assert s.buffered == 0
    assert s.feed(b"y" * 1000) == []
    assert s.buffered == 0
    assert s.feed(b"\x7f\x03zzz\r") == []  # editing and ^C are part of the discarded line
    assert s.feed(b"\nnext\n") == [b"next"]


def test_limit_counts_content_after_editing_and_dropped_controls() -> None:
    s = LineSplitter(4)
    assert s.feed(b"abcd\x7fe\x01\x02\n") == [b"abce"]
    assert s.feed(b"ab\tc\n") == [b"ab\tc"]


def test_limit_counts_bytes_not_characters() -> None:
    assert LineSplitter(4).feed("日日".encode() + b"\n") == [TOO_LONG]
    assert LineSplitter(6).feed("日日".encode() + b"\n") == ["日日".encode()]


def test_too_long_line_ended_by_cr_swallows_the_lf() -> None:
    s = LineSplitter(3)
    assert s.feed(b"abcdef\r") == [TOO_LONG]
    assert s.feed(b"\nok\n") == [b"ok"]


def test_several_too_long_lines_in_one_chunk() -> None:
    s = LineSplitter(3)
    assert s.feed(b"abcd\nok\nefgh\nxyz\n") == [TOO_LONG, b"ok", TOO_LONG, b"xyz"]


def test_too_long_line_in_a_bulk_chunk_takes_the_careful_path() -> None:
    s = LineSplitter(5)
    data = b"a\nb\nc\n" + b"z" * 6 + b"\nd\n"
    assert s.feed(data) == [b"a", b"b", b"c", TOO_LONG, b"d"]


def test_buffer_is_bounded_by_the_limit() -> None:
    s = LineSplitter(100)
    for _ in range(1000):
        s.feed(b"abcdefg")
        assert s.buffered <= 100


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LineSplitter(0)
