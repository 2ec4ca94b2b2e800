"""Chat users for the load generator: one asyncio Protocol per connection, speaking either
torbit's telnet dialog or IRC, so every measurement drives torbit, the bare reference server and
InspIRCd with the same logic.

A user logs in the way a real client does (telnet: `Name:`, the password prompts, `Welcome`,
`/join`; IRC: NICK/USER, 001, JOIN, end of NAMES), then hands every complete line it receives to
its `sink`, a callable shared by all users of one measurement. What differs between the dialects
is small and lives here: the login, how a message is sent, how the server is probed. A message's
text is `^SEQ SEND_NS` in both, so a receiver finds it with one `rfind(b"^")` whatever the line
around it looks like (`[12:00:00] <s000> ^7 123…` or `:s000!s000@127.0.0.1 PRIVMSG #r :^7 123…`).

On two cores the generator competes with the server for CPU: no StreamReader, no per-line
callbacks, only `bytes` methods (C loops) on the hot path.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar, cast

ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")  # SGR and erase sequences

HOST = "127.0.0.1"
PASSWORD = "bench-password"
MAX_PARTIAL = 1 << 20  # a server that never ends a line is broken; do not buffer forever

IAC, SB, SE, AYT = 255, 250, 240, 246
NEGOTIATION = frozenset({251, 252, 253, 254})  # WILL WONT DO DONT: followed by one option byte
_N = ord("N")  # in every PING line (IrcUser.lines)
_LF = ord("\n")

Sink = Callable[["User", bytes], None]


def ignore(_user: User, _lines: bytes) -> None:
    """The sink of an idle user: it reads everything and keeps nothing."""


class LoginFailed(Exception):
    """The server refused the login or closed the connection during it."""


class User(asyncio.Protocol):
    """One user on one connection. `ready` resolves once it is logged in and in its room; from
    then on `sink(user, lines)` gets each run of complete lines (CR LF included) it receives."""

    PROBE: ClassVar[bytes]  # a request any server state answers at once (loop-stall probe)
    PROBE_REPLIES: ClassVar[tuple[bytes, ...]]
    KNOCK: ClassVar[bytes] = b""  # what a newcomer sends for a server that waits to be spoken to
    # where the server would not answer PROBE for long before a login (an IRC server closes or
    # paces a client that sends many commands before registering; torbit closes it at the 11th
    # PING: bench/JOURNAL.md, stop 41), the stall probe logs in first (`opening`) and waits for
    # this reply; empty: it asks at once
    PROBE_READY: ClassVar[bytes] = b""
    transport: asyncio.Transport

    def __init__(
        self, name: str, room: str | None = None, sink: Sink = ignore, password: str = PASSWORD
    ) -> None:
        self.name = name
        self.room = room
        self.sink = sink
        self.password = password
        self.index = 0  # place in its group, for sinks that keep per-user state in a list
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.live = False
        self.lost = False
        self.bytes_received = 0
        self.prompted_at = 0.0  # monotonic time of the server's first bytes
        self.ready_at = 0.0
        self._partial = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.greet()

    def data_received(self, data: bytes) -> None:
        """One call a read, the generator's hot path: a live user's read that ends a line with
        nothing held over (nearly every one) goes to `lines` as it is, in one Python call."""
        self.bytes_received += len(data)
        if self.live:
            if self._partial or data[-1] != _LF:
                self._feed(data)
            else:
                self.lines(data)
        else:
            if not self.prompted_at:
                self.prompted_at = time.monotonic()
            self.login_data(data)

    def _feed(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        if end:
            self.lines(data[:end] if end < len(data) else data)
        elif len(self._partial) > MAX_PARTIAL:
            self.transport.abort()

    def lines(self, lines: bytes) -> None:
        """Complete lines after login: the dialect's housekeeping, then the sink."""
        self.sink(self, lines)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(LoginFailed(f"{self.name}: connection closed during login"))

    def close(self) -> None:
        if not self.lost and hasattr(self, "transport"):
            self.transport.abort()

    def logged_in(self, rest: bytes) -> None:
        """Called by the login code once the user is in its room; `rest` is what followed."""
        self.live = True
        self.ready_at = time.monotonic()
        if not self.ready.done():  # done: the login was given up on (timeout)
            self.ready.set_result(None)
        if rest:
            self._feed(rest)

    def fail(self, why: bytes) -> None:
        if not self.ready.done():
            self.ready.set_exception(LoginFailed(f"{self.name}: {why.decode(errors='replace')}"))
        self.transport.abort()

    # the dialect

    @classmethod
    def opening(cls, name: str, password: str) -> bytes:
        """What the client sends as soon as it is connected (the stall probe too)."""
        return b""

    def greet(self) -> None:
        data = self.opening(self.name, self.password)
        if data:
            self.transport.write(data)

    def knock(self) -> None:
        """Give a server that waits for its client something to answer at once (a newcomer
        timing the server's first words)."""
        if self.KNOCK:
            self.transport.write(self.KNOCK)

    def login_data(self, data: bytes) -> None:
        raise NotImplementedError

    def say(self, text: bytes) -> None:
        """Send one chat message to the user's room."""
        raise NotImplementedError

    def say_all(self, texts: Sequence[bytes]) -> None:
        """Send several chat messages in one write (pipelining)."""
        raise NotImplementedError


class TelnetUser(User):
    """torbit's telnet dialog (reference_server.py speaks a shortened one). Registers the name
    on first use: every password prompt (choose, repeat, log in) takes the same password."""

    PROBE = bytes((IAC, AYT))  # "Are You There", answered by the telnet layer itself
    PROBE_REPLIES = (b"[yes]",)

    def __init__(
        self, name: str, room: str | None = None, sink: Sink = ignore, password: str = PASSWORD
    ) -> None:
        super().__init__(name, room, sink, password)
        self._telnet = 0  # 0 text, 1 after IAC, 2 option byte, 3 in SB, 4 IAC inside SB
        self._pending = b""  # login text after the last newline: where prompts show up
        self._welcomed = False
        self._joining = False

    def data_received(self, data: bytes) -> None:
        if self._telnet or IAC in data:
            data = self._strip(data)
            if not data and self.live:
                return  # only telnet commands: no text (the fast path wants a last byte)
        User.data_received(self, data)  # not super(): one object fewer a read (3.11)

    def _strip(self, data: bytes) -> bytes:
        """Telnet commands out of the stream, even when one is split across reads."""
        out = bytearray()
        st = self._telnet
        for b in data:
            if st == 0:
                if b == IAC:
                    st = 1
                else:
                    out.append(b)
            elif st == 1:
                if b == IAC:
                    out.append(b)
                    st = 0
                else:
                    st = 2 if b in NEGOTIATION else 3 if b == SB else 0
            elif st == 2:
                st = 0
            elif st == 3:
                st = 4 if b == IAC else 3
            else:
                st = 0 if b == SE else 3
        self._telnet = st
        return bytes(out)

    def login_data(self, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n")
        tail = lines.pop()
        for i, raw in enumerate(lines):
            line = raw.rstrip(b"\r")
            if line.startswith(b"! "):
                self.fail(line)
                return
            if not self._welcomed:
                self._welcomed = b"Welcome" in line
            elif line.startswith(b"* you are in #"):
                here = line[14:].split(b" ", 1)[0].lower()
                if self.room is None or here == self.room.lower().encode():
                    self._pending = b""
                    self.logged_in(b"\n".join([*lines[i + 1 :], tail]))
                    return
                if not self._joining:
                    self._joining = True
                    self.transport.write(b"/join %s\r\n" % self.room.encode())
        self._pending = b"" if self._prompt(tail) else tail

    def _prompt(self, tail: bytes) -> bool:
        t = ANSI.sub(b"", tail).rstrip()  # a password prompt ends in SGR 8 (conceal)
        if t.endswith(b"Name:"):
            self.transport.write(self.name.encode() + b"\r\n")
        elif t.lower().endswith(b"password:"):
            self.transport.write(self.password.encode() + b"\r\n")
        else:
            return False
        return True

    def say(self, text: bytes) -> None:
        self.transport.write(text + b"\r\n")

    def say_all(self, texts: Sequence[bytes]) -> None:
        self.transport.write(b"".join(t + b"\r\n" for t in texts))


class IrcUser(User):
    """An IRC client (RFC 1459/2812 as servers speak it today): PASS, NICK and USER at once,
    then JOIN on 001, live at the end of the room's NAMES. Answers every PING, before and
    after registration. PASS goes unchecked by a server without a connect password."""

    PROBE = b"PING :probe\r\n"  # answered with PONG, or with 451 before registration
    PROBE_REPLIES = (b" PONG ", b" 451 ")
    KNOCK = PROBE  # an IRC server says nothing before registration unless asked
    PROBE_READY = b" 001 "
    FAILURES = frozenset(
        {
            b"431",
            b"432",
            b"433",
            b"436",
            b"464",
            b"465",
            b"403",
            b"405",
            b"471",
            b"473",
            b"474",
            b"475",
        }
    )

    def __init__(
        self, name: str, room: str | None = None, sink: Sink = ignore, password: str = PASSWORD
    ) -> None:
        super().__init__(name, room, sink, password)
        self._channel = b"#" + room.encode() if room else b""
        self._privmsg = b"PRIVMSG " + self._channel + b" :"
        self._pending = b""

    @classmethod
    def opening(cls, name: str, password: str) -> bytes:
        n = name.encode()
        return b"PASS %s\r\nNICK %s\r\nUSER %s 0 * :%s\r\n" % (password.encode(), n, n, n)

    def login_data(self, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        for i, raw in enumerate(lines):
            words = raw.rstrip(b"\r").split(b" ", 3)
            if words[0] == b"PING":
                self.transport.write(b"PONG " + words[1] + b"\r\n")
                continue
            if words[0] == b"ERROR":
                self.fail(raw)
                return
            if len(words) < 3:
                continue
            code = words[1]
            if code in self.FAILURES:
                self.fail(raw)
                return
            done = (code == b"001" and not self._channel) or (
                code == b"366" and words[3].split(b" ", 1)[0].lower() == self._channel.lower()
            )
            if done:
                rest = b"\n".join([*lines[i + 1 :], self._pending])
                self._pending = b""
                self.logged_in(rest)
                return
            if code == b"001":
                self.transport.write(b"JOIN " + self._channel + b"\r\n")

    def lines(self, lines: bytes) -> None:
        # a PING line has an N, a room's lines here (lower-case nicks, digits) none: one
        # memchr (~100 instructions) spares the chunk the PING search (~3,300 of the IRC
        # receiver's ~19,300 a chunk, which made it dearer than telnet's: stop 58)
        if _N in lines and (lines.startswith(b"PING ") or b"\nPING " in lines):
            for line in lines.split(b"\r\n"):
                if line.startswith(b"PING "):
                    self.transport.write(b"PONG " + line[5:] + b"\r\n")
        self.sink(self, lines)

    def say(self, text: bytes) -> None:
        self.transport.write(self._privmsg + text + b"\r\n")

    def say_all(self, texts: Sequence[bytes]) -> None:
        p = self._privmsg
        self.transport.write(b"".join(p + t + b"\r\n" for t in texts))


class TorbitIrcUser(IrcUser):
    """An IRC client that creates its account as it connects, the IRC counterpart of the
    telnet user registering on first use: NICK, then `REGISTER * * PASSWORD` (IRCv3
    draft/account-registration, "before-connect", which torbit offers while registration is
    open), then USER; the server registers the connection once the account exists. A name
    already taken is a failed login (each run starts on an empty server)."""

    FAILURES = IrcUser.FAILURES | {b"FAIL"}  # FAIL REGISTER <code> ...: no account, no login

    @classmethod
    def opening(cls, name: str, password: str) -> bytes:
        n = name.encode()
        return b"NICK %s\r\nREGISTER * * %s\r\nUSER %s 0 * :%s\r\n" % (n, password.encode(), n, n)


DIALECTS: dict[str, type[User]] = {"telnet": TelnetUser, "irc": IrcUser}

U = TypeVar("U", bound=User)


async def login(port: int, make: Callable[[], U], *, max_wait: float = 60.0) -> U:
    """Connect and log one user in. A refused or reset connect (accept backlog overrun) is
    retried; a refused login is not."""
    loop = asyncio.get_running_loop()
    for attempt in range(5):
        try:
            _t, user = await loop.create_connection(make, HOST, port)
            break
        except OSError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2 * 2**attempt)
    try:
        await asyncio.wait_for(user.ready, max_wait)
    except TimeoutError:
        user.close()
        raise LoginFailed(f"{user.name}: no login within {max_wait:g} s") from None
    return user


@dataclass(frozen=True)
class Logins:
    """How many login dialogs run at once (so the accept backlog and the server's password
    hashing are not swamped), and how long one may take before the run is given up."""

    concurrency: int = 50
    max_wait: float = 60.0


DEFAULT_LOGINS = Logins()


async def login_many(
    port: int, makers: Sequence[Callable[[], U]], out: list[User], logins: Logins
) -> list[U]:
    """Log many users in, `logins.concurrency` dialogs at once, numbering them (`index`) in
    order. Every connected user is also appended to `out`, so the caller can close them even
    when a later login fails."""
    done: list[U | None] = [None] * len(makers)
    todo = iter(enumerate(makers))

    async def worker() -> None:
        for i, make in todo:
            u = await login(port, make, max_wait=logins.max_wait)
            u.index = i
            out.append(u)
            done[i] = u

    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(min(logins.concurrency, len(makers))):
                tg.create_task(worker())
    except ExceptionGroup as eg:  # the first failure says what went wrong; the rest repeat it
        raise eg.exceptions[0] from None
    return [u for u in done if u is not None]
