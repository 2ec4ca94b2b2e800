"""What an IRC server sends that must be shaped to fit: numerics, RPL_ISUPPORT, and text cut
into messages that each fit the 512-byte line a client reads.

The limit counts the whole line the recipient gets (``:nick!user@host PRIVMSG #room :text``
and CR LF), not only the text, so the source and target are part of every sum here. Text is
cut between characters, never inside a UTF-8 sequence, and before a combining mark only when
nothing else fits; where a space falls in a piece's second half, the cut follows it.

A reply that does not fit (`Message.encode` refuses it) is never dropped: `fit_lines` splits
a PRIVMSG's or NOTICE's text into several, so nothing is lost, and cuts any other message's
last parameter (a real name, a PART or QUIT reason) to what the line has room for.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from torbit.protocol.irc import MAX_BODY_BYTES, Message

__all__ = [
    "ERR_INPUTTOOLONG",
    "RPL_ISUPPORT",
    "cut_text",
    "fit_lines",
    "isupport",
    "list_numerics",
    "numeric",
    "split_text",
    "text_messages",
]

RPL_ISUPPORT: Final = 5
ERR_INPUTTOOLONG: Final = 417
ISUPPORT_TEXT: Final = "are supported by this server"
MAX_ISUPPORT_TOKENS: Final = 13  # 15 parameters at most: the nick, 13 tokens, the text

_ACTION: Final = "\x01ACTION "
_NO_TAGS: Final[Mapping[str, str]] = MappingProxyType({})
_ISUPPORT_NAME: Final = re.compile(r"-?[A-Z0-9./]{1,20}")
# what an ISUPPORT value may not hold raw: Modern IRC escapes space, '\' and '=' as \xHH;
# the other controls get the same treatment so a value can never break the line
_ISUPPORT_ESCAPE: Final = re.compile(r"[\x00-\x20\\=\x7f]")
# characters that belong to the one before them: a cut before one splits a grapheme
_JOINERS: Final = frozenset("\u200c\u200d\ufe0e\ufe0f")


def numeric(server: str, nick: str | None, code: int, *params: str) -> Message:
    """A numeric reply from `server` to `nick`, who is "*" until the client has a nick
    (Modern IRC, "Numeric Replies": the target is the first parameter)."""
    if not 0 <= code <= 999:
        raise ValueError(f"a numeric has three digits, not {code}")
    return Message(f"{code:03d}", (nick or "*", *params), server)


def list_numerics(
    server: str,
    nick: str | None,
    code: int,
    items: list[str],
    *params: str,
    text: str | None = None,
    sep: str = ",",
) -> list[Message]:
    """Numerics holding a list (comma-separated: MONITOR's 730-732, 734; `sep` " ": WHOIS's
    319), as few as fit: `params` before the list in each, `text` after it if any, and each
    line within 512 bytes, whole items only. An item that cannot fit a line by itself is
    left out."""
    target = nick or "*"
    head = "".join(f" {p}" for p in params)
    tail = f" :{text}" if text is not None else ""
    budget = MAX_BODY_BYTES - len(f":{server} {code:03d} {target}{head} :{tail}\r\n".encode())
    after = (text,) if text is not None else ()
    out: list[Message] = []
    words: list[str] = []
    used = 0
    for item in items:
        size = len(item.encode())
        if size > budget:
            continue
        if words and used + 1 + size > budget:
            out.append(numeric(server, nick, code, *params, sep.join(words), *after))
            words, used = [], 0
        used += size + (1 if words else 0)
        words.append(item)
    if words:
        out.append(numeric(server, nick, code, *params, sep.join(words), *after))
    return out


def isupport(server: str, nick: str | None, tokens: Mapping[str, str | None]) -> list[Message]:
    """RPL_ISUPPORT (005) lines advertising `tokens`, as few as fit: at most 13 tokens and 512
    bytes each. A value of None sends the bare name; a name starting with '-' negates it."""
    target = nick or "*"
    overhead = len(f":{server} 005 {target}  :{ISUPPORT_TEXT}\r\n".encode())
    budget = MAX_BODY_BYTES - overhead
    lines: list[Message] = []
    words: list[str] = []
    used = -1  # the first word needs no space before it
    for name, value in tokens.items():
        if not _ISUPPORT_NAME.fullmatch(name) or (name[0] == "-" and value is not None):
            raise ValueError(f"not an ISUPPORT token: {name!r}={value!r}")
        word = name if value is None else f"{name}={_ISUPPORT_ESCAPE.sub(_hex, value)}"
        size = len(word.encode())
        if size > budget:
            raise ValueError(f"ISUPPORT token {word!r} cannot fit one line")
        if words and (len(words) == MAX_ISUPPORT_TOKENS or used + 1 + size > budget):
            lines.append(Message("005", (target, *words, ISUPPORT_TEXT), server))
            words, used = [], -1
        words.append(word)
        used += 1 + size
    if words:
        lines.append(Message("005", (target, *words, ISUPPORT_TEXT), server))
    return lines


def _hex(match: re.Match[str]) -> str:
    return f"\\x{ord(match[0]):02X}"


def text_messages(
    source: str,
    target: str,
    text: str,
    *,
    command: str = "PRIVMSG",
    tags: Mapping[str, str] = _NO_TAGS,
) -> list[Message]:
    """`text` from `source` to `target` as PRIVMSGs (or NOTICEs) that each fit the line the
    recipient reads. Lines of the text become messages of their own; empty ones are dropped
    (IRC has no empty message). A CTCP ACTION (/me) stays one in every piece. Every piece
    carries the same `tags`: they do not count towards the 512 bytes."""
    budget = MAX_BODY_BYTES - len(f":{source} {command} {target} :\r\n".encode())
    if text.startswith(_ACTION) and text.endswith("\x01") and len(text) > len(_ACTION) + 1:
        inner = split_text(text[len(_ACTION) : -1], budget - len(_ACTION) - 1)
        pieces = [f"{_ACTION}{piece}\x01" for piece in inner]
    else:
        pieces = split_text(text, budget)
    return [Message(command, (target, piece), source, tags) for piece in pieces]


def fit_lines(message: Message) -> bytes:
    """The lines of a message that `Message.encode` refuses as too long, made to fit: a
    PRIVMSG's or NOTICE's text split into several messages (`text_messages`: nothing is
    lost), any other message's last parameter cut (`cut_text`), and client-only tags (``+``)
    left out whole if the tags pass their limit, never cut inside a value. Empty if it still
    cannot fit: a middle parameter too long by itself, or not a line at all (a CR, LF or NUL).
    A middle parameter that cannot be one (empty, spaced, or starting with ':', as a value a
    client typed or one stored before such values were refused) ends the message as its
    trailing parameter, the parameters after it left out: the answer arrives, value intact."""
    tags = message.tags
    if tags and not _tags_fit(tags):
        tags = {key: value for key, value in tags.items() if key[:1] != "+"}
    command, params, source = message.command, message.params, message.source
    for index, param in enumerate(params[:-1]):
        if not param or param[0] == ":" or " " in param:
            params = params[: index + 1]
            break
    try:
        if command.upper() in ("PRIVMSG", "NOTICE") and len(params) == 2 and source:
            pieces = text_messages(source, params[0], params[1], command=command, tags=tags)
        elif params:
            head = Message(command, (*params[:-1], ""), source).encode(trailing=True)
            last = cut_text(params[-1], MAX_BODY_BYTES - len(head))
            pieces = [Message(command, (*params[:-1], last), source, tags)]
        else:
            pieces = [Message(command, params, source, tags)]
        return b"".join(piece.encode() for piece in pieces)
    except ValueError:
        return b""


def _tags_fit(tags: Mapping[str, str]) -> bool:
    try:
        Message("TAGMSG", (), None, tags).encode()
    except ValueError:
        return False
    return True


def cut_text(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` bytes of UTF-8: between characters, never inside a
    UTF-8 sequence, and not before a combining mark or joiner if that keeps half of it. A CTCP
    message (``\\x01ACTION waves\\x01``) keeps its closing ``\\x01``; a lone surrogate counts as
    the '?' it is sent as."""
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    if max_bytes <= 0:
        return ""
    if len(text) > 2 and text[0] == "\x01" and text[-1] == "\x01":
        return cut_text(text[:-1], max_bytes - 1) + "\x01"
    half = max_bytes // 2
    cut = _char_start(data, max_bytes)
    grapheme = cut
    while grapheme > half and _joins_previous(data, grapheme):
        grapheme = _char_start(data, grapheme - 1)
    return data[: grapheme if grapheme > half else cut].decode("utf-8")


def split_text(text: str, max_bytes: int) -> list[str]:
    """`text` cut into pieces of at most `max_bytes` bytes of UTF-8, one line at least per
    piece. CR LF, CR and LF end a line; empty lines and NUL bytes are dropped. Joining the
    pieces of one line gives that line back (a lone surrogate comes back as '?')."""
    if max_bytes < 4:  # the longest UTF-8 character must fit, or a piece could be empty
        raise ValueError(f"{max_bytes} bytes cannot hold every character")
    pieces: list[str] = []
    text = text.replace("\0", "")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for line in text.split("\n"):
        data = line.encode("utf-8", "replace")
        start = 0
        while len(data) - start > max_bytes:
            cut = _cut(data, start, start + max_bytes)
            pieces.append(data[start:cut].decode("utf-8"))
            start = cut
        if start < len(data):
            pieces.append(data[start:].decode("utf-8"))
    return pieces


def _cut(data: bytes, start: int, limit: int) -> int:
    """Where the piece of `data` from `start` ends: at most at `limit`, at a character start,
    after a space in the piece's second half if there is one, else not inside a grapheme if
    that still leaves half the piece."""
    half = start + (limit - start) // 2
    cut = _char_start(data, limit)
    space = data.rfind(b" ", half, cut)
    if space >= 0:
        return space + 1
    grapheme = cut
    while grapheme > half and _joins_previous(data, grapheme):
        grapheme = _char_start(data, grapheme - 1)
    return grapheme if grapheme > half else cut


def _char_start(data: bytes, pos: int) -> int:
    """The start of the UTF-8 character at `pos` (the data is valid UTF-8)."""
    while data[pos] & 0xC0 == 0x80:
        pos -= 1
    return pos


def _joins_previous(data: bytes, pos: int) -> bool:
    """True if the character at `pos` is a combining mark or joiner, part of the one before."""
    char = data[pos : pos + 4].decode("utf-8", "ignore")[:1]
    if not char:
        return False
    return char in _JOINERS or unicodedata.category(char) in ("Mn", "Me", "Mc")
