"""A reply too long for IRC's 512-byte line is made to fit, never dropped (irc_replies
`fit_lines`, `cut_text`): a PRIVMSG's or NOTICE's text split into several, any other
message's last parameter cut at a character boundary. On main `SessionOutput.send` logged a
warning and sent nothing: a WHO, WHOIS or extended-join JOIN for a real name of 124 four-byte
characters, a PART or QUIT with a long reason from a long mask."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torbit.protocol.irc import MAX_BODY_BYTES, MAX_TAG_BYTES, Message, MessageReceived, parse_line
from torbit.protocol.irc_replies import cut_text, fit_lines, numeric

GOTHIC = "\U00010348"  # 𐍈: four bytes of UTF-8
MASK = "n" * 32 + "!~" + "u" * 31 + "@irc.torbit"
TAGS = {"time": "2026-12-02T17:00:00.000Z", "account": "n" * 32}


def lines_of(data: bytes) -> list[Message]:
    """Each line of `data`, checked: strict UTF-8, at most 512 bytes after its tags."""
    out = []
    for raw in data.split(b"\r\n")[:-1]:
        raw.decode("utf-8")  # no character was split
        body = raw.split(b" ", 1)[1] if raw[:1] == b"@" else raw
        assert len(body) + 2 <= MAX_BODY_BYTES, len(body)
        event = parse_line(raw, max_tag_bytes=MAX_TAG_BYTES)
        assert isinstance(event, MessageReceived), event
        out.append(event.message)
    return out


def test_a_who_reply_for_a_long_real_name_is_cut_at_a_character() -> None:
    real = GOTHIC * 128
    reply = numeric(
        "irc.torbit", "me", 352, "#r", "~u", "irc.torbit", "irc.torbit", "n", "H", f"0 {real}"
    )
    with pytest.raises(ValueError):
        reply.encode()
    for tags in ({}, TAGS):
        [line] = lines_of(fit_lines(Message(reply.command, reply.params, reply.source, tags)))
        assert dict(line.tags) == tags
        assert line.params[:-1] == reply.params[:-1]
        shown = line.params[-1].removeprefix("0 ")
        assert real.startswith(shown) and 100 < len(shown) < len(real)


def test_part_and_quit_reasons_keep_all_but_the_end() -> None:
    reason = "bye " + GOTHIC * 200
    for message in (
        Message("PART", ("#" + "r" * 32, reason), MASK),
        Message("QUIT", (f"Quit: {reason}",), MASK),
        Message("KICK", ("#r", "victim", reason), MASK, TAGS),
    ):
        [line] = lines_of(fit_lines(message))
        assert line.params[:-1] == message.params[:-1]
        assert message.params[-1].startswith(line.params[-1])
        # cut no shorter than it had to be: one character more passes the line
        longer = message.params[-1][: len(line.params[-1]) + 1]
        with pytest.raises(ValueError):
            Message(message.command, (*message.params[:-1], longer), message.source).encode()


def test_text_from_another_door_is_split_not_cut() -> None:
    text = ("word " + GOTHIC * 3 + " ") * 200
    for command in ("PRIVMSG", "NOTICE"):
        for tags in ({}, TAGS):
            message = Message(command, ("#room", text), MASK, tags)
            lines = lines_of(fit_lines(message))
            assert len(lines) > 5
            assert all(line.command == command and dict(line.tags) == tags for line in lines)
            assert "".join(line.params[1] for line in lines) == text  # nothing lost


def test_a_ctcp_action_stays_one_when_cut() -> None:
    action = "\x01ACTION " + GOTHIC * 200 + "\x01"
    assert cut_text(action, 100).endswith("\x01")
    assert len(cut_text(action, 100).encode()) <= 100
    lines = lines_of(fit_lines(Message("PRIVMSG", ("#r", action), MASK)))
    assert len(lines) == 2  # split, each piece an ACTION
    assert all(
        m.params[1].startswith("\x01ACTION ") and m.params[1].endswith("\x01") for m in lines
    )
    assert "".join(m.params[1][8:-1] for m in lines) == GOTHIC * 200


def test_a_cut_is_not_put_before_a_combining_mark() -> None:
    text = "e\u0301" * 100  # 3 bytes a letter
    for limit in range(4, 60):
        cut = cut_text(text, limit)
        assert len(cut.encode()) <= limit
        assert text.startswith(cut) and len(cut) % 2 == 0, (limit, cut)


def test_client_tags_past_the_limit_go_whole_not_cut() -> None:
    tags = {"time": "2026-12-02T17:00:00.000Z", "+draft/reply": "x\\;" * 2000}
    message = Message("TAGMSG", ("#r",), MASK, tags)
    [line] = lines_of(fit_lines(message))
    assert dict(line.tags) == {"time": tags["time"]}


def test_what_cannot_be_a_line_still_is_not_sent() -> None:
    # a text's line ends start messages of their own (as render.message_lines does): no line
    # can be smuggled in
    lines = lines_of(fit_lines(Message("NOTICE", ("me", "a\r\nQUIT :x"), "irc.torbit")))
    assert [(m.command, m.params) for m in lines] == [
        ("NOTICE", ("me", "a")),
        ("NOTICE", ("me", "QUIT :x")),
    ]
    assert fit_lines(Message("MODE", ("#r", "x" * 600, "y"), MASK)) == b""
    assert fit_lines(Message("KICK", ("#r", "v", "a\nb"), MASK)) == b""


def test_a_middle_parameter_that_cannot_be_one_ends_the_line() -> None:
    """A value starting with ':' (typed, or stored before attack7), empty or spaced where a
    middle parameter goes: the line ends with it as the trailing one, never dropped."""
    cases = [
        ("401", ("me", ":y", "No such nick/channel"), b":irc.torbit 401 me ::y\r\n"),
        ("324", ("me", "#r", "+ntkl", ":abc", "5"), b":irc.torbit 324 me #r +ntkl ::abc\r\n"),
        ("367", ("me", "#r", "", "x"), b":irc.torbit 367 me #r :\r\n"),
        ("401", ("me", "a b", "x"), b":irc.torbit 401 me :a b\r\n"),
    ]
    for code, params, line in cases:
        assert fit_lines(Message(code, params, "irc.torbit")) == line, params
    assert fit_lines(Message("401", ("me", ":y\n", "x"), "irc.torbit")) == b""


@settings(deadline=None, max_examples=300)
@given(
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=700),
    st.integers(0, 600),
)
def test_cut_text_is_a_prefix_that_fits(text: str, limit: int) -> None:
    cut = cut_text(text, limit)
    assert text.startswith(cut)
    assert len(cut.encode()) <= max(limit, 0)
    if len(text.encode()) <= limit:
        assert cut == text
    elif limit >= 8:
        assert len(cut.encode()) > limit // 2 - 4  # a cut loses little
    if cut != text and limit >= 8:
        assert unicodedata.category(text[len(cut)]) not in ("Mn", "Me", "Mc") or (
            len(cut.encode()) > limit // 2
        )
