"""IRC clients for tests: `IrcUser`, pydle (a real client library from PyPI) recording every
message it gets, and `RawIrc`, a bare socket for input no client library would send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pydle

from tests.helpers.opened import closed, opened
from torbit.app import App

DEFAULT_TIMEOUT = 10.0


class IrcUser(pydle.Client):  # type: ignore[misc]
    """A pydle client that keeps every message it receives, for `expect`."""

    RECONNECT_ON_ERROR = False  # a kick, ban or ERROR must not make it come back

    def __init__(self, nick: str, **kwargs: Any) -> None:
        super().__init__(nick, realname=f"{nick} via pydle", **kwargs)
        self.seen: list[Any] = []  # pydle messages, in order
        self._cursor = 0
        self._arrived = asyncio.Event()

    async def on_raw(self, message: Any) -> None:
        # recorded before pydle handles it: pydle's handler of 001 waits for replies to its own
        # WHOIS, so recording after would put messages out of order
        self.seen.append(message)
        self._arrived.set()
        await super().on_raw(message)

    async def expect(
        self,
        command: str,
        *params: str,
        where: Callable[[Any], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """The next message (after those already expected) with this command whose first
        parameters are `params`; messages before it are passed over."""
        async with asyncio.timeout(timeout):
            while True:
                while self._cursor < len(self.seen):
                    m = self.seen[self._cursor]
                    self._cursor += 1
                    if self._matches(m, command, params) and (where is None or where(m)):
                        return m
                self._arrived.clear()
                await self._arrived.wait()

    def _matches(self, m: Any, command: str, params: tuple[str, ...]) -> bool:
        name = str(m.command).zfill(3) if isinstance(m.command, int) else str(m.command)
        return name.upper() == command.upper() and list(m.params[: len(params)]) == list(params)

    def find(self, command: str, *params: str) -> Any:
        """A message already received (expected or not) with this command and parameters."""
        found = [m for m in self.seen if self._matches(m, command, params)]
        assert found, f"no {command} {params} among {[(m.command, m.params) for m in self.seen]}"
        return found[-1]

    def received(self, command: str) -> list[Any]:
        """Every message of this command so far."""
        return [m for m in self.seen if self._matches(m, command, ())]

    async def settle(self) -> None:
        """Wait until the server has answered everything sent before (a PING round trip)."""
        token = f"sync{len(self.seen)}"
        await self.rawmsg("PING", token)
        await self.expect("PONG", where=lambda m: token in m.params)


async def irc_user(app: App, nick: str, *, join: tuple[str, ...] = (), **kwargs: Any) -> IrcUser:
    """A registered client (a guest unless sasl_username/sasl_password are given)."""
    user = IrcUser(nick, **kwargs)
    assert app.irc_port is not None

    async def disconnect() -> None:
        if user.connected:
            await user.disconnect(expected=True)

    opened(user, disconnect)  # disconnected when the test's servers stop, if not before
    await user.connect("127.0.0.1", app.irc_port, tls=False)
    nick = (await user.expect("001")).params[0]  # an account's nick is its name
    await user.expect("376")  # the end of the MOTD: registration is over
    for channel in join:
        await user.join(channel)
        await user.expect("366", nick, channel)
    return user


class RawIrc:
    """A bare IRC connection: lines out, lines in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.lines: list[str] = []
        opened(self, self.close)  # closed when the test's servers stop, if not before

    @classmethod
    async def connect(cls, app: App) -> RawIrc:
        assert app.irc_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", app.irc_port)
        return cls(reader, writer)

    def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\r\n" for line in lines).encode())

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def expect(self, needle: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The next line containing `needle`; lines before it are kept in `lines`."""
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise EOFError(f"closed while waiting for {needle!r}; got {self.lines[-5:]}")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self.lines.append(line)
                if needle in line:
                    return line

    async def register(self, nick: str) -> None:
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}", "CAP END")
        await self.expect(" 376 ")

    async def close(self) -> None:
        closed(self)
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


async def joined(
    app: App, nick: str, *rooms: str, caps: str = "", password: str = "", real: str = ""
) -> RawIrc:
    """A raw client registered as `nick` (realname `real`, else the nick) with `caps`
    enabled, logged in to the account `nick` with `password` if given, and in `rooms` (each
    one's names list ended: 366)."""
    raw = await RawIrc.connect(app)
    if caps:
        raw.send("CAP LS 302", f"CAP REQ :{caps}")
        await raw.expect(" ACK ")
    if password:
        raw.send(f"PASS {nick}:{password}")
    raw.send(f"NICK {nick}", f"USER {nick} 0 * :{real or nick}", "CAP END")
    await raw.expect(" 376 ")
    for room in rooms:
        raw.send(f"JOIN #{room}")
        await raw.expect(f" 366 {nick} #{room} ")
    return raw


async def raw_guest(app: App, nick: str, join: str | None = None) -> RawIrc:
    """A guest on IRC as `nick` (a server with `irc.guests`), in `join` if given (its
    names list ended: 366)."""
    client = await RawIrc.connect(app)
    await client.register(nick)
    if join is not None:
        client.send(f"JOIN {join}")
        await client.expect(f" 366 {nick} {join} ")
    return client
