"""Coverage-guided fuzzing of what parses a client's bytes: the telnet codec, the line
splitter, the slash-command parser, name rules and message cleaning, and the IRC codec.

    .venv/bin/python tests/drills/fuzz_parsers.py -max_total_time=60 [CORPUS_DIR]

runs it under atheris (libFuzzer; any libFuzzer flag works) and exits non-zero with the
failing input saved as crash-* in the working directory. `check_input` is the property
checked for every input; without atheris it is driven by hypothesis instead.

An input is read as: one byte for the line limit, one for password mode, then pieces of the
stream, each a length byte and that many bytes, so the fuzzer also explores how TCP cuts it.
The IRC codec reads the same input, the first two bytes as its body and tag limits.
"""

from __future__ import annotations

import contextlib
import sys
import unicodedata

if __name__ == "__main__":
    import atheris
    from atheris.import_hook import instrument_imports  # the same function; typed in types-atheris

    # torbit's own modules only: the libraries they import (pydantic, sqlalchemy, ...) are
    # not what is fuzzed, and instrumenting them too took seconds of every run's time
    with instrument_imports(include=["torbit"]):
        from torbit.core.names import is_valid_name
        from torbit.core.text import clean_text
        from torbit.errors import TorbitError
        from torbit.frontends.telnet.commands import parse_command
        from torbit.protocol.irc import Event as IRCEvent
        from torbit.protocol.irc import (
            InvalidLine,
            IRCParser,
            MessageReceived,
            parse_line,
        )
        from torbit.protocol.irc import LineTooLong as IRCLineTooLong
        from torbit.protocol.telnet import (
            Event,
            Interrupt,
            LineReceived,
            LineTooLong,
            TelnetConnection,
        )
else:
    from torbit.core.names import is_valid_name
    from torbit.core.text import clean_text
    from torbit.errors import TorbitError
    from torbit.frontends.telnet.commands import parse_command
    from torbit.protocol.irc import Event as IRCEvent
    from torbit.protocol.irc import InvalidLine, IRCParser, MessageReceived, parse_line
    from torbit.protocol.irc import LineTooLong as IRCLineTooLong
    from torbit.protocol.telnet import Event, Interrupt, LineReceived, LineTooLong, TelnetConnection

AYT_REPLY_BYTES = 9


def pieces(data: bytes) -> tuple[int, bool, list[bytes]]:
    """(line limit, password mode, the stream cut into pieces) from a fuzzer's input."""
    if len(data) < 2:
        return 64, False, [data]
    limit, password, rest = 1 + data[0], bool(data[1] & 1), data[2:]
    cut: list[bytes] = []
    while rest:
        n = rest[0]
        cut.append(rest[1 : 1 + n])
        rest = rest[1 + n :]
    return limit, password, cut


def check_event(event: Event, limit: int) -> None:
    if isinstance(event, LineReceived):
        text = event.text
        assert len(text.encode("utf-8", "surrogatepass")) <= 3 * limit
        assert len(text) <= limit
        for char in text:
            assert char == "\t" or unicodedata.category(char) != "Cc", repr(text)
        if text.startswith("/"):
            with contextlib.suppress(TorbitError):  # InvalidInput saying what is wrong
                parse_command(text)
        is_valid_name(text.strip())
        with contextlib.suppress(TorbitError):
            clean_text(text, 4096)
    elif isinstance(event, LineTooLong):
        assert event.limit == limit
    else:
        assert isinstance(event, Interrupt)


def check_input(data: bytes) -> None:
    """Whatever the bytes and however they are cut: no exception but the documented ones,
    memory bounded by the line limit, clean lines, replies bounded by the requests, and the
    same events and replies as when the stream comes in one piece. Telnet, then IRC."""
    check_telnet(data)
    check_irc(data)


def check_telnet(data: bytes) -> None:
    limit, password, cut = pieces(data)
    split, whole = TelnetConnection(limit), TelnetConnection(limit)
    if password:
        split.start_password_mode()
        whole.start_password_mode()
    events: list[Event] = []
    replies = b""
    for piece in cut:
        got = split.receive_data(piece)
        for event in got:
            check_event(event, limit)
        events += got
        replies += split.data_to_send()
        assert split.buffered <= limit
    stream = b"".join(cut)
    assert whole.receive_data(stream) == events
    # each request gets at most one answer, and an answer is 3 bytes (AYT's is 9)
    assert len(replies) <= AYT_REPLY_BYTES * stream.count(b"\xff") + 64, (len(replies), stream)


def check_irc_event(event: IRCEvent, body: int, tags: int) -> None:
    if isinstance(event, MessageReceived):
        message = event.message
        for text in (message.command, message.source or "", *message.params, *message.tags):
            assert "\0" not in text and "\n" not in text, message
        # a tag value may hold CR or LF: IRCv3 escapes them (`\r`, `\n`), and encoding
        # escapes them again (the round trip below); never NUL, which encoding refuses
        for text in message.tags.values():
            assert "\0" not in text, message
        if not event.latin1:  # what we parsed, we can write back, and it reads the same
            assert parse_line(message.encode()[:-2], body, tags) == event
    elif isinstance(event, IRCLineTooLong):
        assert event.limit == (tags if event.tags else body)
    else:
        assert isinstance(event, InvalidLine)


def check_irc(data: bytes) -> None:
    """The IRC codec: bounded, sane events, and cut-independent like telnet. Its limits come
    from the first two bytes, small enough that the fuzzer reaches them."""
    if len(data) < 2:
        return
    body, tags = 3 + data[0], 2 + data[1]
    _, _, cut = pieces(data)
    split, whole = IRCParser(body, tags), IRCParser(body, tags)
    events: list[IRCEvent] = []
    for piece in cut:
        got = split.receive_data(piece)
        for event in got:
            check_irc_event(event, body, tags)
        events += got
        assert split.buffered <= body + tags - 1
    assert whole.receive_data(b"".join(cut)) == events


def main() -> None:
    atheris.Setup(sys.argv, check_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
