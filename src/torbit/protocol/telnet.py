"""Telnet (RFC 854/855) as a sans-IO state machine: bytes in, events and replies out.

The caller owns the socket. It feeds what it reads to `receive_data`, acts on the events, and
writes `data_to_send()` back. Nothing here blocks, so the whole layer is tested without sockets.
Chosen over telnetlib3 by measurement: a bare telnetlib3 server held idle connections at
23 KB of RSS each, all of torbit at 4.5 KB (README, "Architecture").

Option negotiation follows the Q method of RFC 1143 so that two parties can never loop. We
enable nothing by default: in password mode we offer ECHO (the client stops echoing locally)
and accept DO ECHO / DO SGA. We ask the client once for BINARY and then accept its WILL BINARY
(RFC 856: BSD-derived telnets, Debian's among them, mask what they send to 7 bits without it,
and take a UTF-8 byte such as 0x83 or 0x9C for Ctrl-C or Ctrl-\\). Every other request is
refused. A refusal is sent once per option and remembered until that option changes state, so
a peer repeating "IAC DO X" a million times gets one answer: the reply traffic can never
outgrow the request traffic.

Everything the peer sends is bounded: a partial command is at most two remembered bytes, and a
subnegotiation (IAC SB ... IAC SE) is skipped as it arrives and never stored, because we agree
to no option that subnegotiates. Text goes to the `LineSplitter`, which bounds the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from torbit.protocol.lines import LineSplitter, LossyLine, Signal

__all__ = [
    "Event",
    "Interrupt",
    "LineReceived",
    "LineTooLong",
    "TelnetConnection",
]


@dataclass(frozen=True, slots=True)
class LineReceived:
    """One complete input line, without its line end. Invalid UTF-8 shows as U+FFFD; control
    characters other than TAB (C0 and C1) never appear. `lossy`: the text is not all that was
    typed (a byte replaced or a control dropped), so it must not become a password."""

    text: str
    lossy: bool = False


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line passed `limit` bytes. Sent once per line; the rest of that line is discarded."""

    limit: int


@dataclass(frozen=True, slots=True)
class Interrupt:
    """The client wants out: IAC IP, IAC BRK, or Ctrl-C / Ctrl-D typed on an empty line."""


Event = LineReceived | LineTooLong | Interrupt

# Commands (RFC 854) and the options we know by name (RFC 857, RFC 858).
IAC: Final = 255
DONT: Final = 254
DO: Final = 253
WONT: Final = 252
WILL: Final = 251
SB: Final = 250
GA: Final = 249
EL: Final = 248
EC: Final = 247
AYT: Final = 246
AO: Final = 245
IP: Final = 244
BRK: Final = 243
DM: Final = 242
NOP: Final = 241
SE: Final = 240
BINARY: Final = 0
ECHO: Final = 1
SGA: Final = 3

AYT_REPLY: Final = b"\r\n[yes]\r\n"

# Parser states: where we are inside an IAC sequence.
_DATA: Final = 0
_IAC: Final = 1  # after IAC
_OPTION: Final = 2  # after IAC WILL/WONT/DO/DONT, the option byte is next
_SB_OPTION: Final = 3  # after IAC SB, the option byte is next (any value, even 255)
_SB: Final = 4  # inside IAC SB <option> ..., skipping
_SB_IAC: Final = 5  # after IAC inside a subnegotiation

# The client's BINARY, as bits: on; asked, waiting for the answer; asked once already.
_HIM_ON: Final = 1
_HIM_ASKED: Final = 2
_HIM_TRIED: Final = 4

# RFC 1143 states of one of our options.
_NO: Final = 0
_YES: Final = 1
_WANTNO: Final = 2
_WANTYES: Final = 3

_IAC_BYTE: Final = b"\xff"
# One whole command after its IAC, by the group that matched (`lastindex`): 2, a negotiation
# (verb, option); 3, more IAC IAC pairs (a run of escaped 0xFF); 4, a two-byte command; none,
# a subnegotiation to its IAC SE (atomic: an unended one fails fast, and goes byte by byte).
_COMMAND: Final = re.compile(
    rb"\xff(?:([\xfb-\xfe])(.)|(\xff(?:\xff\xff)*+)|([\x00-\xf9])"
    rb"|\xfa.(?>[^\xff]++|\xff\xff)*+\xff\xf0)",
    re.DOTALL,
)
_C1: Final = re.compile("[\x80-\x9f]")
_INTERRUPT: Final = Interrupt()
_TOO_LONG: Final = Signal.TOO_LONG
_INTERRUPT_SIGNAL: Final = Signal.INTERRUPT


class TelnetConnection:
    """One telnet peer's protocol state: the parser, the line splitter and our options."""

    __slots__ = (
        "_ayt_pending",
        "_him",
        "_lines",
        "_out",
        "_password_mode",
        "_queued",
        "_refused_do",
        "_refused_will",
        "_state",
        "_us",
        "_verb",
    )

    def __init__(self, max_line_bytes: int = 4096) -> None:
        self._lines = LineSplitter(max_line_bytes)
        self._state = _DATA
        self._verb = 0
        self._out = b""  # replies are rare: no buffer of its own until there is one
        self._ayt_pending = False
        self._password_mode = False
        # sets of option codes as the bits of an int (an object each would be 40 bytes more
        # a connection, and there are 10,000 connections); our side of each option as two
        # bits at 2 * option (a dict was 224 bytes once ECHO was negotiated)
        self._us = 0
        self._queued = 0  # RFC 1143 "OPPOSITE": change our mind once answered
        self._refused_do = 0  # the peer knows we WONT; do not say it again
        self._refused_will = 0  # the peer knows we DONT want it to
        self._him = 0  # the client's BINARY (_HIM_* bits)

    @property
    def max_line_bytes(self) -> int:
        return self._lines.max_line_bytes

    @property
    def buffered(self) -> int:
        """Input bytes held back waiting for more: the unfinished line only."""
        return self._lines.buffered

    @property
    def password_mode(self) -> bool:
        return self._password_mode

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed raw bytes from the socket; return the events they complete, in order.

        Any negotiation replies they cause wait in `data_to_send`. Between commands, text
        goes to the splitter in bulk; each whole command (`_COMMAND`: a negotiation, a run of
        escaped 0xFF, a subnegotiation to its IAC SE) is one regex match, so a storm of them
        costs a Python step per command, not per byte. A command cut by the end of a read, or
        a subnegotiation that does not end with IAC SE, goes byte by byte (`_step`).
        """
        feed = self._lines.feed
        if self._state == _DATA and _IAC_BYTE not in data:  # the fast path: only text
            return self._events(feed(data))
        items: list[bytes | Signal] = []
        pos = 0
        n = len(data)
        match = _COMMAND.match
        while pos < n:
            if self._state != _DATA:
                pos = self._step(data, pos, items)
                continue
            i = data.find(_IAC_BYTE, pos)
            if i < 0:
                items += feed(data[pos:])
                break
            if i > pos:
                items += feed(data[pos:i])
            m = match(data, i)
            if m is None:  # cut short, or a subnegotiation not ended by IAC SE: byte by byte
                self._state = _IAC
                pos = i + 1
                continue
            pos = m.end()
            kind = m.lastindex
            if kind == 2:
                self._negotiate(data[i + 1], data[i + 2])
            elif kind == 3:  # IAC IAC, as many times as it came: that many 0xFF data bytes
                items += feed(_IAC_BYTE * ((pos - i) >> 1))
            elif kind == 4:
                self._command(data[i + 1], items)
            # else a whole subnegotiation: skipped (we agree to no option that has one)
        return self._events(items)

    def _step(self, data: bytes, pos: int, items: list[bytes | Signal]) -> int:
        """One step of the byte-by-byte parser inside a command; where to go on from."""
        state = self._state
        if state == _SB:
            i = data.find(_IAC_BYTE, pos)
            if i < 0:
                return len(data)
            self._state = _SB_IAC
            return i + 1
        byte = data[pos]
        pos += 1
        if state == _IAC:
            self._state = _DATA
            if byte == IAC:  # an escaped 0xFF data byte
                items += self._lines.feed(_IAC_BYTE)
            elif WILL <= byte <= DONT:
                self._verb = byte
                self._state = _OPTION
            elif byte == SB:
                self._state = _SB_OPTION
            else:
                self._command(byte, items)
        elif state == _OPTION:
            self._state = _DATA
            self._negotiate(self._verb, byte)
        elif state == _SB_OPTION:
            self._state = _SB
        elif byte == SE:  # state == _SB_IAC
            self._state = _DATA
        elif byte == IAC:  # an escaped 0xFF inside the subnegotiation
            self._state = _SB
        else:  # the peer never closed the subnegotiation: abandon it, obey the command
            self._state = _IAC
            pos -= 1
        return pos

    def data_to_send(self) -> bytes:
        """Negotiation replies produced so far; the caller writes them. Clears them."""
        if not self._out:  # the usual answer, on the hot path after every read
            return b""
        out, self._out = self._out, b""
        self._ayt_pending = False
        return out

    def start_password_mode(self) -> bytes:
        """Ask the client to stop echoing what it types (we "echo", and then show nothing).

        Returns the bytes to write now: any pending replies (order matters to the peer), then
        IAC WILL ECHO, unless echo is already on or being asked for.
        """
        self._password_mode = True
        self._enable(ECHO)
        return self.data_to_send()

    def ask_binary(self) -> None:
        """Ask the client, once per connection, to send 8-bit data: IAC DO BINARY, waiting in
        `data_to_send`. Without it Debian's telnet masks each byte it sends to 7 bits to look
        for its control keys: 'ă' (C4 83) was Ctrl-C, an IAC IP, and ended the session."""
        if not self._him:
            self._him = _HIM_ASKED | _HIM_TRIED
            self._send(DO, BINARY)

    def end_password_mode(self) -> bytes:
        """Give local echo back to the client: IAC WONT ECHO (and WONT SGA if it was on)."""
        self._password_mode = False
        self._disable(ECHO)
        self._disable(SGA)
        return self.data_to_send()

    @staticmethod
    def encode_text(text: str) -> bytes:
        """UTF-8 for the wire: newlines become CR LF, a lone CR becomes CR NUL, 0xFF is doubled.

        Never raises: a lone surrogate is sent as '?'.
        """
        data = text.encode("utf-8", "replace")
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\r\0")
        data = data.replace(b"\n", b"\r\n")
        if _IAC_BYTE in data:  # impossible in UTF-8, but cheap to get right
            data = data.replace(_IAC_BYTE, b"\xff\xff")
        return data

    # -- internals ---------------------------------------------------------------------------

    def _events(self, items: list[bytes | Signal]) -> list[Event]:
        events: list[Event] = []
        for item in items:
            if item is _TOO_LONG:
                events.append(LineTooLong(self._lines.max_line_bytes))
            elif item is _INTERRUPT_SIGNAL:
                events.append(_INTERRUPT)
            elif item.isascii():
                events.append(LineReceived(item.decode("ascii"), type(item) is LossyLine))
            else:
                lossy = type(item) is LossyLine
                try:
                    text = item.decode("utf-8")
                except UnicodeDecodeError:
                    text = item.decode("utf-8", "replace")
                    lossy = True
                if _C1.search(text):
                    text = _C1.sub("", text)  # C1 controls (U+0080-U+009F) reach terminals
                    lossy = True
                events.append(LineReceived(text, lossy))
        return events

    def _command(self, byte: int, items: list[bytes | Signal]) -> None:
        """A two-byte command IAC <byte>. Unknown ones, NOP, GA, DM and AO are ignored."""
        if byte in (IP, BRK):
            items.append(Signal.INTERRUPT)
        elif byte == EC:
            self._lines.erase_char()
        elif byte == EL:
            self._lines.erase_line()
        elif byte == AYT and not self._ayt_pending:  # one answer however many were asked
            self._ayt_pending = True
            self._out += AYT_REPLY

    def _send(self, verb: int, option: int) -> None:
        self._out += bytes((IAC, verb, option))

    def _set(self, option: int, state: int) -> None:
        shift = 2 * option
        self._us = self._us & ~(3 << shift) | state << shift
        self._refused_do &= ~(1 << option)  # a new state: a later refusal is news to the peer

    def _negotiate(self, verb: int, option: int) -> None:
        if option == BINARY and self._him and verb in (WILL, WONT):  # asked for: wanted
            self._peer_binary(verb == WILL)
        elif verb == WILL:  # we want the peer to enable no option until we ask
            if not self._refused_will >> option & 1:
                self._refused_will |= 1 << option
                self._send(DONT, option)
        elif verb == DO:
            self._peer_do(option)
        elif verb == DONT:
            self._peer_dont(option)
        # WONT: the peer's side of every other option is already off, which is what we want

    def _peer_binary(self, will: bool) -> None:
        """RFC 1143 for the client's BINARY once we asked for it: its WILL is agreed (answered
        DO unless it is the answer to our DO), its WONT acknowledged (DONT) if BINARY was on;
        a repeat of the current state gets no reply. Before we ask, a WILL is refused once,
        as any other: outside password mode our options never change."""
        him = self._him
        if will and not him & _HIM_ON:
            self._him = _HIM_ON | _HIM_TRIED
            if not him & _HIM_ASKED:
                self._send(DO, BINARY)
        elif not will and him & (_HIM_ON | _HIM_ASKED):
            self._him = _HIM_TRIED
            if him & _HIM_ON:
                self._send(DONT, BINARY)

    def _peer_do(self, option: int) -> None:
        """RFC 1143, receiving DO for our side of `option`."""
        state = self._us >> 2 * option & 3
        if state == _NO:
            if self._password_mode and option in (ECHO, SGA):
                self._set(option, _YES)
                self._send(WILL, option)
            elif not self._refused_do >> option & 1:
                self._refused_do |= 1 << option
                self._send(WONT, option)
        elif state == _WANTNO:  # the peer answered our WONT with DO: a peer error
            if self._queued >> option & 1:
                self._queued &= ~(1 << option)
                self._set(option, _YES)
            else:
                self._set(option, _NO)
        elif state == _WANTYES:  # the answer we asked for
            if self._queued >> option & 1:
                self._queued &= ~(1 << option)
                self._set(option, _WANTNO)
                self._send(WONT, option)
            else:
                self._set(option, _YES)

    def _peer_dont(self, option: int) -> None:
        """RFC 1143, receiving DONT for our side of `option`."""
        state = self._us >> 2 * option & 3
        if state == _YES:
            self._set(option, _NO)
            self._send(WONT, option)
        elif state == _WANTNO:
            if self._queued >> option & 1:
                self._queued &= ~(1 << option)
                self._set(option, _WANTYES)
                self._send(WILL, option)
            else:
                self._set(option, _NO)
        elif state == _WANTYES:  # refused
            self._queued &= ~(1 << option)
            self._set(option, _NO)

    def _enable(self, option: int) -> None:
        state = self._us >> 2 * option & 3
        if state == _NO:
            self._set(option, _WANTYES)
            self._send(WILL, option)
        elif state == _WANTNO:
            self._queued |= 1 << option  # ask again once the peer has answered
        elif state == _WANTYES:
            self._queued &= ~(1 << option)

    def _disable(self, option: int) -> None:
        state = self._us >> 2 * option & 3
        if state == _YES:
            self._set(option, _WANTNO)
            self._send(WONT, option)
        elif state == _WANTYES:
            self._queued |= 1 << option  # take it back once the peer has answered
        elif state == _WANTNO:
            self._queued &= ~(1 << option)
