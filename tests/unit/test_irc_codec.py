"""The IRC codec: the ircdocs parser-tests vectors (package irc-parser-tests, CC0), the IRCv3
message-tags and Modern IRC examples, the limits, and round trips under hypothesis."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from parser_tests import data as vectors

from torbit.protocol.irc import (
    MAX_BODY_BYTES,
    MAX_TAG_BYTES,
    Event,
    InvalidLine,
    IRCParser,
    LineTooLong,
    Message,
    MessageReceived,
    Problem,
    parse_line,
    split_source,
)
from torbit.protocol.irc_replies import (
    ERR_INPUTTOOLONG,
    RPL_ISUPPORT,
    isupport,
    numeric,
    split_text,
    text_messages,
)

props = settings(deadline=None, max_examples=300)


def parse(line: str | bytes, **limits: int) -> Message:
    raw = line.encode() if isinstance(line, str) else line
    event = parse_line(raw, **limits)
    assert isinstance(event, MessageReceived), event
    assert not event.latin1
    return event.message


def atoms(message: Message) -> dict[str, Any]:
    """A message in the vectors' shape: absent keys are None or empty."""
    return {
        "tags": dict(message.tags) or None,
        "source": message.source,
        "verb": message.command,
        "params": list(message.params),
    }


def expected(case: dict[str, Any]) -> dict[str, Any]:
    found = case["atoms"]
    return {
        "tags": found.get("tags"),
        "source": found.get("source"),
        "verb": found["verb"],
        "params": found.get("params", []),
    }


def from_atoms(case: dict[str, Any]) -> Message:
    found = case["atoms"]
    return Message(
        found["verb"], tuple(found.get("params", [])), found.get("source"), found.get("tags") or {}
    )


# -- the ircdocs parser-tests vectors ----------------------------------------------------------


@pytest.mark.parametrize("case", vectors.msg_split["tests"], ids=lambda c: c["input"][:40])
def test_msg_split_vectors(case: dict[str, Any]) -> None:
    assert atoms(parse(case["input"])) == expected(case)


@pytest.mark.parametrize("case", vectors.msg_join["tests"], ids=lambda c: c["desc"])
def test_msg_join_vectors(case: dict[str, Any]) -> None:
    message = from_atoms(case)
    for trailing in (False, True):
        line = message.encode(trailing=trailing)
        assert line.endswith(b"\r\n")
        assert parse(line[:-2]) == message
    assert message.encode()[:-2].decode() in case["matches"]
    for match in case["matches"]:
        assert parse(match) == message


@pytest.mark.parametrize("case", vectors.userhost_split["tests"], ids=lambda c: c["source"])
def test_userhost_split_vectors(case: dict[str, Any]) -> None:
    found = case["atoms"]
    assert split_source(case["source"]) == (
        found.get("nick", ""),
        found.get("user", ""),
        found.get("host", ""),
    )


# -- IRCv3 message-tags and Modern IRC examples -----------------------------------------------


def test_message_tags_spec_examples() -> None:
    message = parse("@aaa=bbb;ccc;example.com/ddd=eee :nick!ident@host.com PRIVMSG me :Hello")
    assert message == Message(
        "PRIVMSG",
        ("me", "Hello"),
        "nick!ident@host.com",
        {"aaa": "bbb", "ccc": "", "example.com/ddd": "eee"},
    )
    client_only = parse(r"@+example=raw+:=,escaped\:\s\\ :irc.example.com NOTICE #channel :Message")
    assert client_only.tags == {"+example": "raw+:=,escaped; \\"}
    assert client_only.encode().startswith(rb"@+example=raw+:=,escaped\:\s\\ :irc.example.com")
    assert parse("@+example-client-tag=example-value TAGMSG @#channel") == Message(
        "TAGMSG", ("@#channel",), None, {"+example-client-tag": "example-value"}
    )


@pytest.mark.parametrize(
    ("escaped", "value"),
    [
        (r"test\\", "test\\"),
        ("test\\", "test"),
        (r"\b", "b"),
        (r"a\:b\sc\rd\ne", "a;b c\rd\ne"),
        (r"\\\\", "\\\\"),
        (r"\\s", "\\s"),
        ("", ""),
        ("=x", "=x"),
    ],
)
def test_tag_unescaping(escaped: str, value: str) -> None:
    assert parse(f"@k={escaped} CMD").tags == {"k": value}


def test_empty_and_missing_tag_values_are_the_same() -> None:
    assert parse("@a=;b;c=1 CMD").tags == {"a": "", "b": "", "c": "1"}
    assert Message("CMD", tags={"a": "", "b": "1"}).encode() == b"@a;b=1 CMD\r\n"


def test_empty_tag_keys_and_sections_are_skipped() -> None:
    assert parse("@;=x;;a=1; CMD").tags == {"a": "1"}
    assert parse("@ CMD x") == Message("CMD", ("x",))


@pytest.mark.parametrize(
    ("line", "params"),
    [
        (":irc.example.com CAP * LIST :", ["*", "LIST", ""]),
        ("CAP * LS :multi-prefix sasl", ["*", "LS", "multi-prefix sasl"]),
        ("CAP REQ :sasl message-tags foo", ["REQ", "sasl message-tags foo"]),
        (":dan!d@localhost PRIVMSG #chan :Hey!", ["#chan", "Hey!"]),
        (":dan!d@localhost PRIVMSG #chan Hey!", ["#chan", "Hey!"]),
        (":dan!d@localhost PRIVMSG #chan ::-)", ["#chan", ":-)"]),
        ("PRIVMSG #a b:c :d e", ["#a", "b:c", "d e"]),
        ("  PING   x  ", ["x"]),
    ],
)
def test_modern_irc_parameter_examples(line: str, params: list[str]) -> None:
    assert list(parse(line).params) == params


def test_command_is_kept_as_sent() -> None:
    assert parse("privmsg #a :hi").command == "privmsg"
    assert parse("001 x").command == "001"


def test_tabs_and_formatting_codes_are_text() -> None:
    text = "\x02bold\x02 \x0304red\x03 \x1ditalic\x1d \x01ACTION waves\x01\tend"
    assert parse("PRIVMSG #a :" + text).params == ("#a", text)


# -- line ends, bad bytes, empty lines --------------------------------------------------------


def events(data: bytes, **limits: int) -> list[Event]:
    return IRCParser(**limits).receive_data(data)


def test_lf_and_crlf_both_end_a_line() -> None:
    assert events(b"PING a\nPING b\r\n") == [
        MessageReceived(Message("PING", ("a",))),
        MessageReceived(Message("PING", ("b",))),
    ]


def test_cr_at_the_end_of_one_read_and_lf_in_the_next() -> None:
    parser = IRCParser()
    assert parser.receive_data(b"PING a\r") == []
    assert parser.receive_data(b"\nPING b\r\n") == [
        MessageReceived(Message("PING", ("a",))),
        MessageReceived(Message("PING", ("b",))),
    ]


def test_no_buffer_is_kept_between_lines() -> None:
    """An idle client's parser holds no bytearray (56 bytes a connection); one is made for
    an unfinished line and let go once the line ends."""
    parser = IRCParser()
    assert parser._buf is None
    assert len(parser.receive_data(b"NICK a\r\nUSER a 0 * :A\r\n")) == 2
    assert parser._buf is None
    assert parser.receive_data(b"JOIN #ro") == []
    assert parser.buffered == len(b"JOIN #ro")
    [joined] = parser.receive_data(b"om\r\nPRIV")
    assert isinstance(joined, MessageReceived) and joined.message.params == ("#room",)
    assert parser.buffered == len(b"PRIV")
    assert len(parser.receive_data(b"MSG #room :hi\r\n")) == 1
    assert parser._buf is None and parser.buffered == 0


def test_empty_lines_are_ignored() -> None:
    assert events(b"\r\n\n   \r\n \nPING x\n") == [MessageReceived(Message("PING", ("x",)))]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"PRIVMSG #a :a\0b\r\n", Problem.NUL),
        (b"\0\n", Problem.NUL),
        (b"PRIVMSG #a :a\rb\r\n", Problem.STRAY_CR),
        (b"PING x\r\r\n", Problem.STRAY_CR),
        (b"\r\r\n", Problem.STRAY_CR),
        (b"@a=b\r\n", Problem.NO_COMMAND),
        (b"@a=b   \r\n", Problem.NO_COMMAND),
        (b":source\r\n", Problem.NO_COMMAND),
        (b":source   \r\n", Problem.NO_COMMAND),
        (b"@a :b :c d\r\n", Problem.NO_COMMAND),
        (b":a @b c\n", Problem.NO_COMMAND),
        (b"@@x @y\n", Problem.NO_COMMAND),
    ],
)
def test_bad_lines_are_events_and_the_connection_goes_on(data: bytes, problem: Problem) -> None:
    parser = IRCParser()
    assert parser.receive_data(data + b"PING ok\r\n") == [
        InvalidLine(problem),
        MessageReceived(Message("PING", ("ok",))),
    ]


def test_an_empty_source_counts_as_none() -> None:
    assert parse(": PING x") == Message("PING", ("x",))


# -- encodings --------------------------------------------------------------------------------


def test_utf8_is_decoded() -> None:
    assert parse("PRIVMSG #a :café 日本 🎉".encode()).params[1] == "café 日本 🎉"


def test_invalid_utf8_falls_back_to_latin1_and_says_so() -> None:
    event = parse_line(b"PRIVMSG #caf\xe9 :na\xefve \xff")
    assert event == MessageReceived(Message("PRIVMSG", ("#café", "naïve ÿ")), latin1=True)


def test_tags_stay_utf8_when_the_rest_falls_back() -> None:
    event = parse_line(b"@k=\xc3\xa9 PRIVMSG #a :\xe9")
    assert event == MessageReceived(Message("PRIVMSG", ("#a", "é"), None, {"k": "é"}), latin1=True)


def test_a_tag_value_that_is_not_utf8_is_dropped_not_replaced() -> None:
    assert parse(b"@a=\xff\xfe;b=ok;\xff=x;c CMD").tags == {"a": "", "b": "ok", "c": ""}


# -- limits -----------------------------------------------------------------------------------


def test_tags_at_the_client_limit_pass_and_one_byte_more_does_not() -> None:
    """The lines of irctest's testLengthLimits: 4,094 bytes of tag data is the most."""
    at_limit = f"@foo=bar;+baz={'a' * 4081} TAGMSG #test"
    assert at_limit.index("TAGMSG") == 4096
    assert parse(at_limit).tags == {"foo": "bar", "+baz": "a" * 4081}
    over = f"@foo=bar;+baz={'a' * 4082} TAGMSG #test"
    assert parse_line(over.encode()) == LineTooLong(4096, tags=True)
    full = f"@foo=bar;+baz={'a' * 4081} PRIVMSG #test {'b' * 496}"
    assert len(full) == 4096 + 510
    assert parse(full).params == ("#test", "b" * 496)
    full_over = f"@foo=bar;+baz={'a' * 4082} PRIVMSG #test {'b' * 495}"
    assert parse_line(full_over.encode()) == LineTooLong(4096, tags=True)


def test_tags_with_no_space_anywhere_are_too_long() -> None:
    assert events(b"@" + b"a" * 5000 + b"\r\nPING x\r\n") == [
        LineTooLong(4096, tags=True),
        MessageReceived(Message("PING", ("x",))),
    ]


def test_body_of_510_bytes_passes_and_511_does_not() -> None:
    """irctest's testLineAtLimit and testLineBeyondLimit: 512 bytes with CR LF is the most."""
    at_limit = "PING " + "x" * 505
    assert len(at_limit) == 510
    assert events(at_limit.encode() + b"\r\n") == [MessageReceived(Message("PING", ("x" * 505,)))]
    assert events(at_limit.encode() + b"\n") == [MessageReceived(Message("PING", ("x" * 505,)))]
    over = at_limit + "x"
    assert events(over.encode() + b"\r\nPING y\r\n") == [
        LineTooLong(512),
        MessageReceived(Message("PING", ("y",))),
    ]


def test_body_limit_counts_after_the_tags() -> None:
    tags = "@" + "k" * 4000 + " "
    assert parse(tags + "PING " + "x" * 505).params == ("x" * 505,)
    assert parse_line((tags + "PING " + "x" * 506).encode()) == LineTooLong(512)


def test_server_sized_tags_parse_with_the_server_limit() -> None:
    line = "@" + "k=" + "v" * 8000 + " PING x"
    assert parse_line(line.encode()) == LineTooLong(4096, tags=True)
    assert parse(line, max_tag_bytes=MAX_TAG_BYTES).tags == {"k": "v" * 8000}


def test_limits_must_leave_room_for_a_line() -> None:
    with pytest.raises(ValueError):
        IRCParser(max_body_bytes=2)
    with pytest.raises(ValueError):
        IRCParser(max_tag_bytes=1)


# -- encoding messages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "line"),
    [
        (("#a", "hi"), b"PRIVMSG #a hi\r\n"),
        (("#a", "hi there"), b"PRIVMSG #a :hi there\r\n"),
        (("#a", ""), b"PRIVMSG #a :\r\n"),
        (("#a", ":)"), b"PRIVMSG #a ::)\r\n"),
        (("#a", "a:b"), b"PRIVMSG #a a:b\r\n"),
        ((), b"PRIVMSG\r\n"),
    ],
)
def test_a_colon_only_where_needed(params: tuple[str, ...], line: bytes) -> None:
    assert Message("PRIVMSG", params).encode() == line


def test_trailing_forces_the_colon() -> None:
    assert Message("PRIVMSG", ("#a", "hi"), "n!u@h").encode(trailing=True) == (
        b":n!u@h PRIVMSG #a :hi\r\n"
    )


def test_server_tags_go_before_client_only_tags() -> None:
    message = Message(
        "TAGMSG", ("#a",), "n", {"+typing": "active", "msgid": "x", "+b": "", "t": "1"}
    )
    assert message.encode() == b"@msgid=x;t=1;+typing=active;+b :n TAGMSG #a\r\n"


def test_tag_values_are_escaped() -> None:
    message = Message("CMD", tags={"k": "a;b c\\d\re\nf"})
    assert message.encode() == b"@k=a\\:b\\sc\\\\d\\re\\nf CMD\r\n"


@pytest.mark.parametrize(
    "message",
    [
        Message("PRIVMSG", ("#a", "x\r\nQUIT")),
        Message("PRIVMSG", ("#a", "x\nQUIT")),
        Message("PRIVMSG", ("#a", "x\0")),
        Message("PRIVMSG", ("#a b", "x")),
        Message("PRIVMSG", ("", "x")),
        Message("PRIVMSG", (":a", "x")),
        Message(""),
        Message("PRIV MSG"),
        Message(":PRIVMSG"),
        Message("@PRIVMSG"),
        Message("PING", source=""),
        Message("PING", source="a b"),
        Message("PING", source="a\r\n"),
        Message("PING", tags={"": "x"}),
        Message("PING", tags={"a b": "x"}),
        Message("PING", tags={"a;b": "x"}),
        Message("PING", tags={"a=b": "x"}),
        Message("PING", tags={"a": "\0"}),
        Message("PING", tags={"a\n": "x"}),
        Message("PING", ("x" * 505,), "s"),
        Message("PING", tags={"k": "v" * 8200}),
    ],
)
def test_what_cannot_be_one_line_is_refused(message: Message) -> None:
    with pytest.raises(ValueError):
        message.encode()


def test_the_longest_lines_that_fit() -> None:
    assert len(Message("PING", ("x" * 505,)).encode()) == MAX_BODY_BYTES
    tagged = Message("PING", tags={"k": "v" * (MAX_TAG_BYTES - len("@k= "))})
    assert tagged.encode().index(b"PING") == MAX_TAG_BYTES
    with pytest.raises(ValueError):
        Message("PING", tags={"k": "v" * (MAX_TAG_BYTES - len("@k= ") + 1)}).encode()


# -- round trips ------------------------------------------------------------------------------

# what a word may hold: anything but NUL, CR, LF and space (tab and colon included)
word_chars = st.characters(blacklist_characters="\0\r\n ", blacklist_categories=["Cs"])
text_chars = st.characters(blacklist_characters="\0\r\n", blacklist_categories=["Cs"])
words = st.text(word_chars, min_size=1, max_size=12)
middles = words.filter(lambda w: w[0] not in ":")
commands = st.one_of(
    st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True), st.from_regex(r"[0-9]{3}", fullmatch=True)
)
tag_keys = st.text(
    st.characters(blacklist_characters="\0\r\n ;=", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=10,
)
tag_values = st.text(
    st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]), max_size=20
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    params = draw(st.lists(middles, max_size=6))
    if draw(st.booleans()):
        params.append(draw(st.text(text_chars, max_size=40)))
    source = draw(st.none() | words.filter(lambda w: w[0] != ":"))
    tags = draw(st.dictionaries(tag_keys, tag_values, max_size=5))
    return Message(draw(commands), tuple(params), source, tags)


@props
@given(messages(), st.booleans())
def test_encode_then_parse_gives_the_message_back(message: Message, trailing: bool) -> None:
    try:
        line = message.encode(trailing=trailing)
    except ValueError:  # only too long is possible for these
        assume(False)
    assert line.endswith(b"\r\n") and line.count(b"\n") == 1 and b"\0" not in line
    assert IRCParser(max_tag_bytes=MAX_TAG_BYTES).receive_data(line) == [MessageReceived(message)]


@props
@given(st.binary(max_size=600).map(lambda b: b.replace(b"\n", b"")))
def test_a_parsed_line_encodes_to_a_line_that_parses_the_same(line: bytes) -> None:
    event = parse_line(line, max_tag_bytes=MAX_TAG_BYTES)
    if isinstance(event, MessageReceived) and not event.latin1:
        again = parse_line(event.message.encode()[:-2], max_tag_bytes=MAX_TAG_BYTES)
        assert again == event


@props
@given(
    st.lists(
        st.sampled_from(["@", ":", " ", "a", "=", ";", "\\", "s", ":", "\t", "é"]), max_size=30
    ).map("".join)
)
def test_punctuation_soup_parses_to_something_encodable(line: str) -> None:
    event = parse_line(line.encode())
    if isinstance(event, MessageReceived):
        assert parse_line(event.message.encode()[:-2]) == event
    else:
        assert event is None or isinstance(event, InvalidLine)


# -- replies ----------------------------------------------------------------------------------


def test_numeric_names_the_client_or_a_star() -> None:
    assert numeric("torbit", "alice", 1, "Welcome").encode() == b":torbit 001 alice Welcome\r\n"
    assert numeric("torbit", None, ERR_INPUTTOOLONG, "Input line was too long").encode() == (
        b":torbit 417 * :Input line was too long\r\n"
    )
    with pytest.raises(ValueError):
        numeric("torbit", "a", 1000)


def test_isupport_escapes_and_negates() -> None:
    [line] = isupport(
        "torbit",
        "alice",
        {"NETWORK": "a b\\c=d", "SAFELIST": None, "-EXCEPTS": None, "CHANTYPES": "#", "EMPTY": ""},
    )
    assert line.encode() == (
        b":torbit 005 alice NETWORK=a\\x20b\\x5Cc\\x3Dd SAFELIST -EXCEPTS "
        b"CHANTYPES=# EMPTY= :are supported by this server\r\n"
    )
    assert line.command == f"{RPL_ISUPPORT:03d}"


@pytest.mark.parametrize(
    "tokens", [{"lower": None}, {"-NEG": "x"}, {"A" * 21: None}, {"": None}, {"LONG": "x" * 500}]
)
def test_isupport_refuses_what_is_not_a_token(tokens: dict[str, str | None]) -> None:
    with pytest.raises(ValueError):
        isupport("torbit", "alice", tokens)


@props
@given(
    st.dictionaries(
        st.from_regex(r"[A-Z]{1,20}", fullmatch=True),
        st.none() | st.text(st.characters(codec="ascii"), max_size=60),
        max_size=60,
    ),
    st.from_regex(r"[a-z]{1,32}", fullmatch=True),
)
def test_isupport_lines_fit_and_keep_every_token(tokens: dict[str, str | None], nick: str) -> None:
    lines = isupport("irc.torbit.example", nick, tokens)
    sent: list[str] = []
    for line in lines:
        data = line.encode()
        assert len(data) <= MAX_BODY_BYTES
        assert line.params[0] == nick and line.params[-1] == "are supported by this server"
        assert 1 <= len(line.params) - 2 <= 13
        sent += line.params[1:-1]
    assert [token.partition("=")[0] for token in sent] == list(tokens)


def body_bytes(message: Message) -> int:
    """The bytes of the line after its tags: what the 512-byte limit counts."""
    return len(Message(message.command, message.params, message.source).encode())


def test_text_messages_fit_the_line_the_recipient_reads() -> None:
    source = "alice!alice@torbit"
    pieces = text_messages(source, "#room", "word " * 300)
    assert len(pieces) > 1
    assert all(len(m.encode()) <= MAX_BODY_BYTES for m in pieces)
    assert "".join(m.params[1] for m in pieces) == "word " * 300
    assert all(m.params[1].endswith(" ") for m in pieces[:-1])  # cut after a space


def test_text_messages_split_lines_and_drop_empty_ones() -> None:
    pieces = text_messages("a", "b", "one\r\ntwo\n\nthree\rfour\0")
    assert [m.params[1] for m in pieces] == ["one", "two", "three", "four"]
    assert text_messages("a", "b", "\n\r\n") == []


def test_actions_stay_actions_in_every_piece() -> None:
    pieces = text_messages(
        "a!b@c",
        "#room",
        "\x01ACTION " + "waves " * 200 + "\x01",
        command="NOTICE",
        tags={"msgid": "1"},
    )
    assert len(pieces) > 1
    for message in pieces:
        assert message.command == "NOTICE" and message.tags == {"msgid": "1"}
        assert message.params[1].startswith("\x01ACTION ") and message.params[1].endswith("\x01")
        assert body_bytes(message) <= MAX_BODY_BYTES


def test_text_is_never_cut_inside_a_character() -> None:
    for char in ["é", "日", "🎉"]:
        pieces = split_text(char * 1000, 100)
        assert "".join(pieces) == char * 1000
        assert all(len(p.encode()) <= 100 for p in pieces)


def test_text_is_not_cut_before_a_combining_mark() -> None:
    text = "e\u0301" * 100  # é as e + COMBINING ACUTE ACCENT: 3 bytes per letter
    for piece in split_text(text, 10):
        assert unicodedata.category(piece[0]) != "Mn"
    assert "".join(split_text(text, 10)) == text


def test_split_text_needs_room_for_any_character() -> None:
    with pytest.raises(ValueError):
        split_text("x", 3)
    with pytest.raises(ValueError):
        text_messages("a" * 500, "#room", "x")


@props
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=300), st.integers(4, 80))
def test_split_text_pieces_fit_and_rejoin(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(0 < len(p.encode()) <= limit for p in pieces)
    lines = [
        line
        for line in text.replace("\0", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if line
    ]
    assert "".join(pieces) == "".join(lines)
    assert all("\n" not in p and "\r" not in p for p in pieces)
