"""What text may be shown to others: the one place messages and topics are cleaned.

A shown text must not be able to pass for something else on anyone's screen:
- control characters could drive a terminal (ANSI escapes, bells): replaced by U+FFFD;
- line and paragraph separators (U+2028/U+2029) break a line where the door does not, and a
  tab widens to the next tab stop: a space instead;
- invisible format characters (Unicode category Cf: bidi embeddings, overrides and isolates
  that reorder what follows them, marks, zero-width spaces, word joiners, tags) are removed,
  except what writing needs: a zero-width joiner inside an emoji sequence, a zero-width
  (non-)joiner between letters of the scripts that shape with them, and the tag characters
  of a flag sequence (🏴 + a subdivision code + cancel tag);
- a run of more than MAX_BLANKS blanks (spaces, tabs, other Unicode spaces, blank-looking
  fillers) becomes MAX_BLANKS spaces, so no line can be padded to the width of a terminal
  to make a forged `[12:00:00] <admin> ...` start the next row;
- a run of more than MAX_MARKS combining marks (nonspacing and enclosing, of any plane, the
  joiners among them counted) keeps its first MAX_MARKS: marks stack, so a letter carrying
  hundreds of them ("Zalgo" text) is drawn far above and below its line, over the messages
  around it on the web page and in graphical IRC clients. Writing needs few: Vietnamese two, Hebrew
  with cantillation or a Tibetan stack rarely more than six.
Names need none of this: they are ASCII letters, digits, '-', '_' and '.' (names.py).

Most texts have none of these: one search tells (ASCII needs only a control-character
class), and only a text with something to clean is rewritten (bench/clean_text.py measures
both against a control-characters-only reference)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from torbit.errors import InvalidInput, TooLarge

MAX_BLANKS = 3
MAX_MARKS = 8
ZWNJ, ZWJ = "\u200c", "\u200d"


def _char_class(chars: Iterable[str]) -> str:
    """A regex character class of ranges: sre tests a few ranges far faster than a long list
    of characters."""
    spans: list[list[int]] = []
    for c in sorted(set(map(ord, chars))):
        if spans and spans[-1][1] == c - 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    parts = (re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in spans)
    return "[" + "".join(parts) + "]"


def _category(cat: str, planes: Iterable[range]) -> list[str]:
    return [chr(c) for p in planes for c in p if unicodedata.category(chr(c)) == cat]


# Every Cf character of this Python's Unicode database. Only planes 0, 1 and 14 have any, so
# the scan stops there (50 ms at import instead of 400).
_FORMAT = _category("Cf", (range(0x20000), range(0xE0000, 0xE1000)))
# C0 and C1 controls (tab and the separators are blanks, below) and lone surrogates.
_BAD = [*map(chr, range(0x09)), *map(chr, range(0x0A, 0x20)), *map(chr, range(0x7F, 0xA0))]
_BAD += map(chr, range(0xD800, 0xE000))
# Blanks: the Unicode spaces (Zs), tab, the line and paragraph separators, and the fillers
# that render as nothing (Hangul fillers, the braille blank).
_BLANKS = [*_category("Zs", (range(0x10000),)), "\t", "\u2028", "\u2029"]
# The fillers are letters (Lo) or a symbol (So) to Unicode, so the joiner rules exclude them.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_BLANKS += sorted(_FILLERS)

# Combining marks that stack (Mn, Me) of plane 0, with the joiners that may sit between them;
# the astral ones (historic scripts, musical notation, variation selectors 17-256) are kept
# out of this class to keep it a bitmap (below), and looked for only in a text that has any.
_MARKS = [*_category("Mn", (range(0x10000),)), *_category("Me", (range(0x10000),)), ZWNJ, ZWJ]
_MARK_RUN = re.compile(_char_class(_MARKS) + f"{{{MAX_MARKS + 1},}}")
_ASTRAL_PLANES = (range(0x10000, 0x20000), range(0xE0000, 0xE1000))
_ASTRAL_MARKS = frozenset([*_category("Mn", _ASTRAL_PLANES), *_category("Me", _ASTRAL_PLANES)])
# Runs with astral marks are found in a copy where each astral mark is a plane-0 one, by the
# bitmap class, only in a text that may hold one (by its UTF-8, as the astral format
# characters are found below): a class with the astral marks is a list of ranges, 5 times
# slower. Before, 100 Glagolitic or musical combining marks on a letter went through.
_AS_BMP_MARK = dict.fromkeys(map(ord, _ASTRAL_MARKS), "\u0300")

_FORMAT_BMP = [c for c in _FORMAT if c < "\U00010000"]
_FORMAT_ASTRAL = [c for c in _FORMAT if c >= "\U00010000"]

# The rewrite is a few passes, each a substitution by a constant done in C, in an order that
# leaves every decision final: controls, then the format characters that always go, then
# separators and tabs; the joiners once their neighbours are what will be shown; blank runs
# last, once nothing invisible is left between blanks. Only the joiners need a Python callback.
# sre tests a character class as a bitmap only while all of it is below U+10000 (an astral
# character makes it a list of ranges tried in turn at every position, 10x slower on a line
# with emoji), so the few astral format characters (tags; a handful of historic-script and
# musical controls) are removed in a pass of their own, only when a text has any.
_TAG_CODE = "[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,7}\U000e007f"
_ASTRAL_FORMAT = re.compile(f"(\U0001f3f4{_TAG_CODE})|{_char_class(_FORMAT_ASTRAL)}+")
_BAD_CHAR = re.compile(_char_class(_BAD))
_DROP = re.compile(_char_class(c for c in _FORMAT_BMP if c not in (ZWJ, ZWNJ)) + "+")
_SEPARATOR = re.compile("[\t\u2028\u2029]")
_JOINERS = re.compile(f"[{ZWNJ}{ZWJ}]+")
_BLANK_RUN = re.compile(_char_class(_BLANKS) + f"{{{MAX_BLANKS + 1},}}")
# Whether a text has anything to rewrite. ASCII can only have controls and runs of spaces.
# Astral format characters are found in the UTF-8 encoding by the two bytes their encodings
# start with (a few other characters share them; they only cost the slow path).
_ASCII_SUSPECT = re.compile(r"[^ -~]")
_SUSPECT = re.compile(_char_class([*_BAD, *_FORMAT_BMP, *(b for b in _BLANKS if b != " ")]))


def _lead_bytes(chars: Iterable[str]) -> re.Pattern[bytes]:
    """A pattern of the first two bytes of the chars' UTF-8 encodings."""
    seconds: dict[bytes, set[bytes]] = {}
    for c in chars:
        raw = c.encode()
        seconds.setdefault(raw[:1], set()).add(raw[1:2])
    return re.compile(
        b"|".join(
            re.escape(lead) + b"[" + b"".join(map(re.escape, sorted(s))) + b"]"
            for lead, s in sorted(seconds.items())
        )
    )


# The astral format characters and marks: below U+1F000 and in plane 14, so that none shares
# its first two bytes (F0 9F) with an emoji, the astral characters most texts hold.
_ASTRAL_RARE = _lead_bytes([*_FORMAT_ASTRAL, *_ASTRAL_MARKS])
_EMOJI_TRAILERS = frozenset("\ufe0e\ufe0f\u20e3" + "".join(map(chr, range(0x1F3FB, 0x1F400))))


def clean_text(text: str, max_bytes: int) -> str:
    """A text fit to show: line ends at its start and end dropped (where the line doors end
    a line: `printf 'hi\\n' | curl --data-binary @-` sends "hi", not "hi" and U+FFFD),
    control characters replaced, invisible format characters removed (but for emoji and
    script joiners and flag tags), blank runs shortened, trailing blanks dropped; empty and
    oversized texts refused."""
    text = text.strip("\r\n")
    if not text.strip():  # blanks and line ends only: before line ends turn into U+FFFD
        raise InvalidInput("empty message")
    if text.isascii():
        if _ASCII_SUSPECT.search(text) is not None or "    " in text:
            text = _rewrite(text)
    else:
        # astral format characters or marks, by their UTF-8's first two bytes (not an emoji's)
        rare = _ASTRAL_RARE.search(text.encode(errors="surrogatepass")) is not None
        if rare:
            text = _ASTRAL_FORMAT.sub(lambda m: m.group(1) or "", text)
        if _SUSPECT.search(text) is not None or "    " in text:
            text = _rewrite(text)
        if _MARK_RUN.search(text) is not None:
            text = _MARK_RUN.sub(_marks, text)
        if rare:
            text = _cut_astral_runs(text)
    text = text.rstrip()
    if not text.strip():
        raise InvalidInput("empty message")
    if len(text.encode()) > max_bytes:
        raise TooLarge(f"message too long: at most {max_bytes} bytes")
    return text


def clean_cut(text: str, max_bytes: int) -> str:
    """`clean_text`, but a text too long once cleaned is cut to `max_bytes` of UTF-8 at a
    character boundary rather than refused: IRC's TOPICLEN, KICKLEN and AWAYLEN, which
    servers cut to (modern.ircdocs.horse, RPL_ISUPPORT). Cleaning comes first, so what
    others are shown fits: a control character cleaned to U+FFFD takes three bytes. A joiner
    or blanks the cut leaves at the end go, as `clean_text` drops them."""
    text = clean_text(text, 4 * len(text))  # as long as it can get: nothing refused for size
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    return clean_text(raw[:max_bytes].decode(errors="ignore"), max_bytes)


MAX_REASON_BYTES = 1024  # IRC cuts a PART or QUIT reason to 200 characters before


def clean_reason(text: str) -> str:
    """A reason told to others with a leave or a quit (IRC's PART and QUIT), cleaned as a
    message is; one that cleaning leaves empty, or that is too long, is no reason."""
    if not text.strip():
        return ""
    try:
        return clean_text(text, MAX_REASON_BYTES)
    except (InvalidInput, TooLarge):
        return ""


def clean_label(text: str, max_bytes: int) -> str:
    """A short text that tells others who someone is: IRC's real name (USER, SETNAME), shown
    in WHOIS, WHO, extended-join and SETNAME lines on every node. Cleaned and cut as
    `clean_cut` does (before, it went out as typed: escapes, bells and bidi overrides to
    whoever looked the user up); "" when cleaning leaves nothing to show."""
    if not text.strip():
        return ""
    try:
        return clean_cut(text, max_bytes)
    except InvalidInput:
        return ""


def _rewrite(text: str) -> str:
    text = _DROP.sub("", _BAD_CHAR.sub("\ufffd", text))
    text = _SEPARATOR.sub(" ", text)
    if ZWJ in text or ZWNJ in text:
        text = _JOINERS.sub(_joiner, text)
    return _BLANK_RUN.sub(" " * MAX_BLANKS, text)


def _cut_astral_runs(text: str) -> str:
    """`_marks` on the runs of marks that hold astral ones: found in a copy of the text with
    each astral mark as a plane-0 one (one character for one, so the spans are the text's)."""
    parts: list[str] = []
    at = 0
    for m in _MARK_RUN.finditer(text.translate(_AS_BMP_MARK)):
        parts += (text[at : m.start()], _first_marks(text[m.start() : m.end()]))
        at = m.end()
    return "".join(parts) + text[at:] if parts else text


def _marks(m: re.Match[str]) -> str:
    """The first MAX_MARKS of a run of marks, without a joiner left at its end. Done after
    the other passes: an invisible character between two runs, removed, made them one."""
    return _first_marks(m.group())


def _first_marks(run: str) -> str:
    return run[:MAX_MARKS].rstrip(ZWJ + ZWNJ)


def _joiner(m: re.Match[str]) -> str:
    """Keep one joiner where writing needs it: a ZWJ between two emoji (👩‍💻, 🏳️‍🌈), or a
    ZWJ/ZWNJ between two letters or marks of a script past Latin (Indic conjuncts, Persian
    and Arabic shaping); drop it anywhere else."""
    s = m.string
    start, end = m.span()
    if start == 0 or end == len(s):
        return ""
    joiners, after = m.group(), s[end]
    if ZWJ in joiners and _emoji(after):
        k = start - 1
        while k > 0 and s[k] in _EMOJI_TRAILERS:
            k -= 1
        if _emoji(s[k]):
            return ZWJ
    if _script_letter(s[start - 1]) and _script_letter(after):
        return joiners[-1]
    return ""


def _script_letter(ch: str) -> bool:
    return ord(ch) >= 0x0370 and unicodedata.category(ch)[0] in "LM" and ch not in _FILLERS


def _emoji(ch: str) -> bool:
    """Emoji are symbols (So) among Unicode's categories; skin tones are modifiers."""
    if ch in _FILLERS:
        return False
    return unicodedata.category(ch) == "So" or 0x1F3FB <= ord(ch) <= 0x1F3FF
