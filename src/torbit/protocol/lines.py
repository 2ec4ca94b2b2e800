"""Bytes in, complete lines out. The line limit is a security feature, not a convenience.

A line longer than the limit is reported once and the rest of it is thrown away as it arrives,
so a client can never make us hold more than `max_line_bytes` of its input. Only new bytes are
scanned, never the buffer, so a 1 MB line fed a byte at a time costs no more than one fed whole.
Plain text moves in bulk: a chunk of many ordinary lines is one `split`, and otherwise each line
is found by a C-level regex search and its dropped controls deleted by one `translate`; only the
editing keys (backspace, DEL, Ctrl-C, Ctrl-D) are visited one by one.

Line editing happens here because the line limit counts the bytes left after it: backspace and
DEL delete the previous character (a whole UTF-8 sequence), other control bytes are dropped
(so no ESC sequence ever reaches another user's terminal), TAB is kept. A line that lost a
control byte so comes out as a `LossyLine`: a password must not quietly become another one.
"""

from __future__ import annotations

import enum
import re
from typing import Final, cast

__all__ = ["LineSplitter", "LossyLine", "Signal"]


class Signal(enum.Enum):
    """What the splitter reports besides lines."""

    TOO_LONG = "too long"  # the current line passed the limit; its rest is being discarded
    INTERRUPT = "interrupt"  # Ctrl-C or Ctrl-D typed on an empty line


class LossyLine(bytes):
    """A line some of whose bytes were dropped on the way: control bytes other than TAB and
    the editing keys (backspace and DEL edit the line, they lose nothing typed)."""

    __slots__ = ()


_LF: Final = 0x0A
_CR: Final = 0x0D
_NUL: Final = 0x00
_BS: Final = 0x08
_DEL: Final = 0x7F
_ETX: Final = 0x03  # Ctrl-C
_EOT: Final = 0x04  # Ctrl-D

# Every byte that is not plain line content: the C0 controls except TAB, and DEL.
_SPECIAL: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# The controls that need more than a split on LF: the above minus LF and CR.
_EDITING: Final = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_END: Final = re.compile(rb"[\r\n]")
# The editing keys, visited one by one; the other controls are deleted in bulk (`_DROPPED`).
_KEYS: Final = re.compile(rb"[\x03\x04\x08\x7f]")
_DROPPED: Final = bytes(b for b in range(0x20) if b != 0x09) + b"\x7f"


class LineSplitter:
    """Splits a byte stream into lines ended by CR LF, LF, CR NUL or a lone CR.

    A CR ends the line at once (so a client that sends a bare CR is not kept waiting); an LF
    or NUL right after it, even in the next `feed`, belongs to the same line end.
    """

    __slots__ = ("_after_cr", "_buf", "_discarding", "_lossy", "max_line_bytes")

    def __init__(self, max_line_bytes: int = 4096) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be at least 1")
        self.max_line_bytes = max_line_bytes
        self._buf = bytearray()
        self._discarding = False  # inside a line that passed the limit: drop until its end
        self._after_cr = False  # the last line end was a CR: swallow one LF or NUL
        self._lossy = False  # the line being typed lost a control byte (`LossyLine`)

    @property
    def buffered(self) -> int:
        """Bytes of the unfinished line held in memory; never more than `max_line_bytes`."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | Signal]:
        """Take the next bytes of the stream; return the lines they complete, in order."""
        if (
            data.count(b"\n") > 2  # per line the careful path is quicker for a line or two
            and not (self._discarding or self._after_cr or self._lossy)
            and _EDITING.search(data) is None
        ):
            lines = self._feed_plain(data)
            if lines is not None:
                return lines
        return self._feed_any(data)

    def _feed_plain(self, data: bytes) -> list[bytes | Signal] | None:
        """The fast path for text whose only controls are CR LF or LF: all in bulk, in C.
        None means this chunk needs the careful path (a lone CR, or a line over the limit)."""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
            if b"\r" in data:
                return None
        buf = self._buf
        parts = data.split(b"\n")
        if len(buf) + len(parts[0]) > self.max_line_bytes:
            return None
        if len(parts) == 1:
            buf += data
            return []
        if max(map(len, parts)) > self.max_line_bytes:
            return None
        rest = parts.pop()
        if buf:
            buf += parts[0]
            parts[0] = bytes(buf)
            buf.clear()
        buf += rest
        return cast("list[bytes | Signal]", parts)

    def _feed_any(self, data: bytes) -> list[bytes | Signal]:
        """The careful path: line by line, each line's text in bulk (its dropped controls
        deleted by one `translate`); only the editing keys (BS, DEL, Ctrl-C, Ctrl-D) are
        visited one by one, so random bytes cost a Python step per few dozen bytes, not per
        control byte."""
        out: list[bytes | Signal] = []
        buf = self._buf
        pos = 0
        n = len(data)
        while pos < n:
            if self._after_cr:
                self._after_cr = False
                if data[pos] == _LF or data[pos] == _NUL:
                    pos += 1
                    continue
            if self._discarding:
                m = _LINE_END.search(data, pos)
                if m is None:
                    break
                self._discarding = False
                self._after_cr = data[m.start()] == _CR
                pos = m.end()
                continue
            m = _LINE_END.search(data, pos)
            end = n if m is None else m.start()
            if (
                not buf
                and not self._lossy
                and m is not None
                and end - pos <= self.max_line_bytes
                and cast(re.Match[bytes], _SPECIAL.search(data, pos)).start() == end
            ):  # (the line end is special: the search stops there at the latest)
                out.append(data[pos:end])  # a whole plain line in this chunk: no copy via buf
            elif not self._take(data[pos:end], out):
                pos = end  # past the limit: the discarding branch looks for the line end
                continue
            elif m is not None:
                out.append(LossyLine(buf) if self._lossy else bytes(buf))
                buf.clear()
                self._lossy = False
            if m is None:
                break
            self._after_cr = data[end] == _CR
            pos = end + 1
        return out

    def _take(self, text: bytes, out: list[bytes | Signal]) -> bool:
        """Add text without line ends to the line being typed, editing as the keys say;
        False when the line passes the limit (reported, dropped, discarding until its end)."""
        buf = self._buf
        limit = self.max_line_bytes
        start = 0
        for m in _KEYS.finditer(text):
            typed = text[start : m.start()]
            piece = typed.translate(None, _DROPPED)
            if len(buf) + len(piece) > limit:
                return self._too_long(out)
            buf += piece
            if len(piece) != len(typed):
                self._lossy = True
            if text[m.start()] in (_BS, _DEL):
                _erase_char(buf)
            elif not buf:  # Ctrl-C or Ctrl-D on an empty line; inside one it is dropped
                out.append(Signal.INTERRUPT)
            else:
                self._lossy = True
            start = m.end()
        typed = text[start:] if start else text
        piece = typed.translate(None, _DROPPED)
        if len(buf) + len(piece) > limit:
            return self._too_long(out)
        buf += piece
        if len(piece) != len(typed):
            self._lossy = True
        return True

    def _too_long(self, out: list[bytes | Signal]) -> bool:
        self._buf.clear()
        self._lossy = False
        self._discarding = True
        out.append(Signal.TOO_LONG)
        return False

    def erase_char(self) -> None:
        """Telnet EC: delete the last character of the line being typed."""
        if not self._discarding:
            _erase_char(self._buf)

    def erase_line(self) -> None:
        """Telnet EL: forget the line being typed."""
        self._buf.clear()
        self._lossy = False


def _erase_char(buf: bytearray) -> None:
    """Delete the last character: a whole UTF-8 sequence, or one byte if it is not valid."""
    if not buf:
        return
    start = len(buf) - 1
    while start > 0 and buf[start] & 0xC0 == 0x80 and len(buf) - start < 4:
        start -= 1
    if len(buf) - start == _sequence_length(buf[start]):
        del buf[start:]
    else:  # not a complete sequence: take one byte
        del buf[-1]


def _sequence_length(lead: int) -> int:
    """How many bytes a UTF-8 sequence starting with `lead` has (1 for anything else)."""
    if 0xC0 <= lead < 0xE0:
        return 2
    if 0xE0 <= lead < 0xF0:
        return 3
    if 0xF0 <= lead < 0xF8:
        return 4
    return 1
