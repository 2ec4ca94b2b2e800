"""A small real-socket telnet client for tests: reads lines, skips IAC negotiation."""

from __future__ import annotations

import asyncio
import contextlib
import re

from tests.helpers.opened import closed, opened

IAC = 0xFF
DEFAULT_TIMEOUT = 10.0


def strip_iac(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == IAC and i + 1 < len(data):
            cmd = data[i + 1]
            if cmd == IAC:
                out.append(IAC)
                i += 2
            elif 251 <= cmd <= 254:
                i += 3
            else:
                i += 2
            continue
        out.append(b)
        i += 1
    return bytes(out)


class TelnetClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = ""
        self.raw = bytearray()
        self.seen: list[str] = []  # every complete line received, in order
        opened(self, self.close)  # closed when the test's servers stop, if not before

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> TelnetClient:
        reader, writer = await asyncio.open_connection(host, port, limit=2**22)
        return cls(reader, writer)

    async def _fill(self, timeout: float, waiting_for: str = "") -> None:
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {waiting_for!r}; last lines {[line[:160] for line in self.seen[-8:]]!r}, "
                f"buffer {self.buffer[-300:]!r}"
            ) from None
        if not data:
            raise EOFError(
                f"connection closed; last lines {[line[:160] for line in self.seen[-8:]]!r}, buffer {self.buffer!r}"
            )
        self.raw += data
        self.buffer += strip_iac(data).decode("utf-8", "replace")

    async def read_until(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Everything up to and including `text`, which may be a prompt without newline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.buffer:
            await self._fill(max(0.01, deadline - loop.time()), text)
        idx = self.buffer.index(text) + len(text)
        out, self.buffer = self.buffer[:idx], self.buffer[idx:]
        self.seen.extend(out.splitlines())
        return out

    async def expect(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match[str]:
        """The first complete line matching the regex; lines before it are consumed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        rx = re.compile(pattern)
        while True:
            while "\n" in self.buffer:
                line, self.buffer = self.buffer.split("\n", 1)
                line = line.rstrip("\r")
                self.seen.append(line)
                m = rx.search(line)
                if m:
                    return m
            await self._fill(max(0.01, deadline - loop.time()), pattern)

    async def lines_for(self, seconds: float) -> list[str]:
        """All complete lines that arrive within `seconds` (for asserting absence)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        out: list[str] = []
        while True:
            while "\n" in self.buffer:
                line, self.buffer = self.buffer.split("\n", 1)
                out.append(line.rstrip("\r"))
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                await self._fill(left)
            except (AssertionError, EOFError):
                break
        self.seen.extend(out)
        return out

    def send(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def login(self, name: str, password: str = "secret-pw") -> None:
        """Register (first time) or log in, and wait until in the default room."""
        await self.read_until("Name: ")
        self.send(name)
        prompt = await self._either("Password: ", "Choose a password: ")
        self.send(password)
        if prompt == "Choose a password: ":
            await self.read_until("Repeat the password: ")
            self.send(password)
        await self.expect("Welcome")
        await self.expect(r"^\* you are in #")

    async def _either(self, a: str, b: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while a not in self.buffer and b not in self.buffer:
            await self._fill(max(0.01, deadline - loop.time()))
        hit = a if a in self.buffer else b
        await self.read_until(hit)
        return hit

    async def close(self) -> None:
        closed(self)
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
