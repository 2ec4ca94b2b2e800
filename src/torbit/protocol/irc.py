"""IRC messages as a sans-IO codec: bytes in, `Message`s out; `Message`s in, bytes out.

The caller owns the socket: it feeds what it reads to `IRCParser.receive_data`, acts on the
events, and writes what `Message.encode` returns. Nothing here blocks or keeps more than one
line, so the whole layer is tested and fuzzed without sockets.

The grammar is Modern IRC's ("Message Format", after RFC 1459 2.3.1 and RFC 2812 2.3) with
IRCv3 message tags: ``['@' tags SPACE] [':' source SPACE] command *(SPACE middle)
[SPACE ':' trailing]``. Parsing is as lenient as real clients need: several spaces count as
one, an empty line is ignored, tag keys are opaque, an unknown tag escape ``\\b`` reads as
``b`` and a lone trailing backslash as nothing (message-tags, "Escaping values").

Limits are security limits (message-tags, "Size limit"): after its tags a line holds at most
512 bytes with its CR LF; a client's tags, with their '@' and the space after them, at most
4,096 bytes (4,094 of tag data), and server plus client tags together at most 8,191. A line
over either limit is reported once as `LineTooLong` and dropped whole as it arrives, never
truncated (the spec says to answer ERR_INPUTTOOLONG and never to cut tags), so a client can
make us hold at most one line. Only new bytes are searched for a line end, never the buffer.

Lines end in LF or CR LF. A NUL anywhere, or a CR anywhere else, makes the line an
`InvalidLine` event: it is dropped and the connection goes on. Text is UTF-8; a line that is
not valid UTF-8 is read as Latin-1 (Modern IRC, "Character Encodings") and flagged, so no byte
is replaced or lost. Tag values are UTF-8 only: an invalid one is dropped rather than given
replacement characters (message-tags: "SHOULD NOT substitute replacement bytes").

Encoding is strict: `Message.encode` raises ValueError for anything that is not one line
within the limits, so no parameter can smuggle in a second line and no client cuts ours.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CLIENT_TAG_BYTES",
    "MAX_TAG_BYTES",
    "Event",
    "IRCParser",
    "InvalidLine",
    "LineTooLong",
    "Message",
    "MessageReceived",
    "Problem",
    "has_tag",
    "parse_line",
    "split_source",
    "with_tag",
]

MAX_BODY_BYTES: Final = 512  # a line after its tags, CR LF included (RFC 1459 2.3)
MAX_CLIENT_TAG_BYTES: Final = 4096  # '@', 4,094 bytes of a client's tag data, ' '
MAX_TAG_BYTES: Final = 8191  # '@', server tags, ';', client tags, ' ' on what a server sends

_NO_TAGS: Final[Mapping[str, str]] = MappingProxyType({})  # shared by untagged lines parsed


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message. `params` holds every parameter, the trailing one without its colon
    (Modern IRC: it "MUST NOT be treated specially"). A tag without a value has the value ""
    (message-tags: empty and missing values mean the same). The command is kept as sent:
    commands are case-insensitive, so the caller compares `command.upper()`."""

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def encode(self, *, trailing: bool = False, max_bytes: int = MAX_BODY_BYTES) -> bytes:
        """The line for the wire, CR LF included. `trailing` puts a colon before the last
        parameter even where none is needed (for clients that expect one on text).
        `max_bytes` is the body's limit: 512, but for the one reply that may not be split
        nor cut and is bounded by its request (ISON's 303: frontends/irc/queries.py).

        Raises ValueError if the message cannot be written as one line within the limits:
        a CR, LF or NUL anywhere, an empty or spaced middle parameter, a body over
        `max_bytes`, tags over 8,191 bytes.
        """
        words: list[str] = []
        source = self.source
        if source is not None:
            if not source or _NOT_IN_WORD.search(source):
                raise ValueError(f"source {source!r} is empty or has a space, CR, LF or NUL")
            words.append(":" + source)
        command = self.command
        if not command or command[0] in "@:" or _NOT_IN_WORD.search(command):
            raise ValueError(f"not an IRC command: {command!r}")
        words.append(command)
        params = self.params
        if params:
            for param in params[:-1]:
                if not param or param[0] == ":" or _NOT_IN_WORD.search(param):
                    raise ValueError(f"parameter {param!r} can only be the last one")
                words.append(param)
            last = params[-1]
            if _NOT_IN_TEXT.search(last):
                raise ValueError(f"parameter {last!r} has a CR, LF or NUL")
            if trailing or not last or last[0] == ":" or " " in last:
                last = ":" + last
            words.append(last)
        line = " ".join(words).encode("utf-8", "replace") + b"\r\n"
        if len(line) > max_bytes:
            raise ValueError(f"line of {len(line)} bytes passes the {max_bytes}-byte limit")
        if not self.tags:
            return line
        return _encode_tags(self.tags) + line


class Problem(enum.Enum):
    """Why a line was dropped; the value is wording fit for a client."""

    NUL = "NUL byte in the line"
    STRAY_CR = "CR inside the line"
    NO_COMMAND = "no command"


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A well-formed line. `latin1`: it was not valid UTF-8 and was read as Latin-1."""

    message: Message
    latin1: bool = False


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line passed `limit` bytes: its tag section (`tags`) or the rest of it. Sent once per
    line, which is dropped whole; the answer is ERR_INPUTTOOLONG (417)."""

    limit: int
    tags: bool = False


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A line that cannot be a message; it is dropped and the connection goes on."""

    problem: Problem


Event = MessageReceived | LineTooLong | InvalidLine

_NOT_IN_WORD: Final = re.compile("[\x00\r\n ]")
_NOT_IN_TEXT: Final = re.compile("[\x00\r\n]")
_NOT_IN_KEY: Final = re.compile("[\x00\r\n ;=]")
_ESCAPES: Final = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})
_UNESCAPE: Final = re.compile(r"\\(.?)", re.DOTALL)
_UNESCAPES: Final = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


class IRCParser:
    """Splits a client's byte stream into lines and parses them, within the limits."""

    __slots__ = ("_buf", "_discarding", "max_body_bytes", "max_tag_bytes")

    def __init__(
        self, max_body_bytes: int = MAX_BODY_BYTES, max_tag_bytes: int = MAX_CLIENT_TAG_BYTES
    ) -> None:
        if max_body_bytes < 3:
            raise ValueError("max_body_bytes must leave room for a command and CR LF")
        if max_tag_bytes < 2:
            raise ValueError("max_tag_bytes must leave room for '@' and a space")
        self.max_body_bytes = max_body_bytes
        self.max_tag_bytes = max_tag_bytes
        # an unfinished line; None between lines, as an idle client mostly is (a bytearray
        # is 56 bytes a connection)
        self._buf: bytearray | None = None
        self._discarding = False  # inside a line that passed the limit: drop until its LF

    @property
    def buffered(self) -> int:
        """Bytes of the unfinished line held in memory; never more than one line's limit."""
        return len(self._buf) if self._buf is not None else 0

    def receive_data(self, data: bytes) -> list[Event]:
        """Take the next bytes of the stream; return the events of the lines they complete."""
        events: list[Event] = []
        buf = self._buf
        # the most a line may hold before its LF: tags, body without CR LF, and the CR
        limit = self.max_tag_bytes + self.max_body_bytes - 1
        pos = 0
        n = len(data)
        if self._discarding:
            pos = data.find(b"\n") + 1
            if pos == 0:
                return events
            self._discarding = False
        while pos < n:
            end = data.find(b"\n", pos)
            held = len(buf) if buf is not None else 0
            if held + (n if end < 0 else end) - pos > limit:
                start = data[pos : pos + self.max_tag_bytes]
                if buf is not None:
                    start = bytes(buf[: self.max_tag_bytes]) + start
                events.append(self._too_long(start))
                buf = None
                if end < 0:
                    self._discarding = True
                    break
            elif end < 0:
                if buf is None:
                    buf = bytearray(data[pos:])
                else:
                    buf += data[pos:]
                break
            else:
                if buf is not None:
                    buf += data[pos:end]
                    line = bytes(buf)
                    buf = None
                else:  # the common case: a whole line inside one read, no copy through buf
                    line = data[pos:end]
                event = parse_line(line, self.max_body_bytes, self.max_tag_bytes)
                if event is not None:
                    events.append(event)
            pos = end + 1
        self._buf = buf
        return events

    def _too_long(self, start: bytes) -> LineTooLong:
        """Which limit a line starting with `start` (at least one tag limit long) passed."""
        if _tags_too_long(start, self.max_tag_bytes):
            return LineTooLong(self.max_tag_bytes, tags=True)
        return LineTooLong(self.max_body_bytes)


def _tags_too_long(line: bytes, max_tag_bytes: int) -> bool:
    """True if `line` has tags and no space ends them within the limit."""
    return line[:1] == b"@" and line.find(b" ", 0, max_tag_bytes) < 0


def parse_line(
    line: bytes, max_body_bytes: int = MAX_BODY_BYTES, max_tag_bytes: int = MAX_CLIENT_TAG_BYTES
) -> Event | None:
    """One line without its LF (a CR before the LF may stay). None for an empty line."""
    if line[-1:] == b"\r":
        line = line[:-1]
    body = line
    raw_tags = b""
    if line[:1] == b"@":
        space = line.find(b" ", 0, max_tag_bytes)
        if space < 0:
            if len(line) >= max_tag_bytes:
                return LineTooLong(max_tag_bytes, tags=True)
            space = len(line)  # tags and nothing else: no command, found below
        raw_tags = line[1:space]
        body = line[space + 1 :]
    if len(body) > max_body_bytes - 2:
        return LineTooLong(max_body_bytes)
    if b"\0" in line:
        return InvalidLine(Problem.NUL)
    if b"\r" in line:
        return InvalidLine(Problem.STRAY_CR)
    try:
        text = body.decode("utf-8")
        latin1 = False
    except UnicodeDecodeError:
        text = body.decode("latin-1")
        latin1 = True
    text = text.lstrip(" ")
    source: str | None = None
    if text[:1] == ":":
        space = text.find(" ")
        if space < 0:
            return InvalidLine(Problem.NO_COMMAND)
        source = text[1:space] or None
        text = text[space:].lstrip(" ")
    space = text.find(" ")
    command = text if space < 0 else text[:space]
    if not command or command[0] in "@:":
        if not (command or source or line[:1] == b"@"):
            return None  # an empty line, or only spaces
        return InvalidLine(Problem.NO_COMMAND)
    params: tuple[str, ...] = ()
    if space >= 0:
        middles, colon, trailing = text[space:].partition(" :")
        words = [word for word in middles.split(" ") if word]
        if colon:
            words.append(trailing)
        params = tuple(words)
    tags = _parse_tags(raw_tags) if raw_tags else _NO_TAGS
    return MessageReceived(Message(command, params, source, tags), latin1)


def _parse_tags(raw: bytes) -> dict[str, str]:
    """Tag data (between '@' and the space) to a dict; the last of a repeated key wins."""
    tags: dict[str, str] = {}
    try:
        pairs = [tag.partition("=") for tag in raw.decode("utf-8").split(";")]
    except UnicodeDecodeError:
        pairs = [_decode_tag(tag) for tag in raw.split(b";")]
    for key, _, value in pairs:
        if key:
            tags[key] = _UNESCAPE.sub(_unescape, value) if "\\" in value else value
    return tags


def _decode_tag(tag: bytes) -> tuple[str, str, str]:
    """One tag of a section that is not all UTF-8: a key that is not is dropped with its tag,
    a value that is not is dropped and the key kept (message-tags, "Format")."""
    key, _, value = tag.partition(b"=")
    try:
        name = key.decode("utf-8")
    except UnicodeDecodeError:
        return "", "", ""
    try:
        return name, "=", value.decode("utf-8")
    except UnicodeDecodeError:
        return name, "", ""


def _unescape(match: re.Match[str]) -> str:
    char = match[1]
    return _UNESCAPES.get(char, char)


def _encode_tags(tags: Mapping[str, str]) -> bytes:
    """'@', the tags, ' '. Server tags go before client-only ('+') ones, as message-tags
    requires, so a relay that adds its own never pushes the client's out of the limit."""
    items: list[str] = []
    for key, value in sorted(tags.items(), key=lambda item: item[0][:1] == "+"):
        if not key or _NOT_IN_KEY.search(key):
            raise ValueError(f"tag key {key!r} is empty or has a space, ';', '=', CR, LF or NUL")
        if "\0" in value:
            raise ValueError(f"tag {key!r} has a NUL in its value")
        items.append(f"{key}={value.translate(_ESCAPES)}" if value else key)
    section = ("@" + ";".join(items) + " ").encode("utf-8", "replace")
    if len(section) > MAX_TAG_BYTES:
        raise ValueError(f"tags of {len(section)} bytes pass the {MAX_TAG_BYTES}-byte limit")
    return section


def with_tag(line: bytes, key: str, value: str) -> bytes:
    """An encoded line with one more tag in front (a server's own, such as labeled-response's
    `label` or a batch's `batch`), its value escaped as `Message.encode` escapes values, so a
    value from a client cannot end the tag section or the line. Raises ValueError as
    `encode` does (a NUL, tags over 8,191 bytes)."""
    tag = _encode_tags({key: value})[1:-1]
    if line[:1] != b"@":
        return b"@" + tag + b" " + line
    tagged = b"@" + tag + b";" + line[1:]
    if tagged.find(b" ") > MAX_TAG_BYTES:
        raise ValueError(f"tags pass the {MAX_TAG_BYTES}-byte limit")
    return tagged


def has_tag(line: bytes, key: str) -> bool:
    """Whether an encoded line carries the tag `key`."""
    if line[:1] != b"@":
        return False
    wanted = key.encode()
    section = line[1 : line.find(b" ")]
    return any(tag.partition(b"=")[0] == wanted for tag in section.split(b";"))


def split_source(source: str) -> tuple[str, str, str]:
    """``nick!user@host`` to (nick, user, host); a missing part is ""."""
    rest, _, host = source.partition("@")
    nick, _, user = rest.partition("!")
    return nick, user, host
