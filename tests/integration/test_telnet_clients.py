"""Real telnet clients (Debian's inetutils telnet, busybox telnet, PuTTY's plink) and raw TCP
clients (nc, socat: the README's advice) driven through a pty as a person types: register, log
in, chat, backspace. What the pty shows is what the person sees: a password must never be on it,
nor telnet negotiation bytes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import termios
from collections.abc import AsyncIterator, Callable

import pytest

from torbit.app import App

PASSWORD = "Sup3r-secret-pw"
CLIENTS: dict[str, Callable[[int], list[str]]] = {
    "inetutils": lambda port: ["telnet", "127.0.0.1", str(port)],
    "busybox": lambda port: ["busybox", "telnet", "127.0.0.1", str(port)],
    "plink": lambda port: ["plink", "-telnet", "-P", str(port), "127.0.0.1"],
    "nc": lambda port: ["nc", "127.0.0.1", str(port)],
    "socat": lambda port: ["socat", "-", f"TCP:127.0.0.1:{port}"],
}
PROGRAMS = {"inetutils": "telnet", "busybox": "busybox", "plink": "plink", "nc": "nc"}
PROGRAMS["socat"] = "socat"
CONCEALED = re.compile(rb"\x1b\[8m.*?(\x1b\[28m|$)", re.S)  # a terminal shows none of it
WIPED = re.compile(rb"(?:\xff[\xfb-\xfe].)+\r\x1b\[K", re.S)  # negotiations, CR, erase line


def visible(screen: bytes) -> bytes:
    """What a terminal shows of the pty's output, as far as these checks need: no concealed
    text, no wiped negotiation."""
    return WIPED.sub(b"", CONCEALED.sub(b"", screen))


class PtyClient:
    """A client program on a pty: `type` keys into it, `expect` waits for the screen."""

    def __init__(self, argv: list[str]) -> None:
        master, slave = os.openpty()

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=controlling_tty,
            env={**os.environ, "TERM": "xterm"},
        )
        os.close(slave)
        os.set_blocking(master, False)
        self.master = master
        self.screen = b""
        self._more = asyncio.Event()
        asyncio.get_running_loop().add_reader(master, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self.screen += data
        self._more.set()

    async def expect(self, text: str, timeout: float = 15.0) -> None:
        want = text.encode()
        start = len(self.screen)

        async def wait() -> None:
            while want not in self.screen[start - 200 if start > 200 else 0 :]:
                self._more.clear()
                await self._more.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"{text!r} never shown; the screen: {self.screen!r}") from None

    async def type(self, keys: str) -> None:
        for ch in keys:  # key by key, as a person does: some clients send at once
            os.write(self.master, ch.encode())
            await asyncio.sleep(0.01)

    def close(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.master)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)
        os.close(self.master)


@pytest.fixture
async def spawn() -> AsyncIterator[Callable[[list[str]], PtyClient]]:
    clients: list[PtyClient] = []

    def start(argv: list[str]) -> PtyClient:
        client = PtyClient(argv)
        clients.append(client)
        return client

    yield start
    for c in clients:
        c.close()


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_register_log_in_and_chat_without_showing_the_password(
    server: App, spawn: Callable[[list[str]], PtyClient], client: str
) -> None:
    if shutil.which(PROGRAMS[client]) is None:
        pytest.fail(
            f"{PROGRAMS[client]} is not installed (apt-get install telnet busybox putty-tools)"
        )
    assert server.telnet_port is not None
    argv = CLIENTS[client](server.telnet_port)
    name = f"u{client}"

    first = spawn(argv)
    await first.expect("Name:")
    await first.type(f"{name}\r")
    await first.expect("Choose a password:")
    await first.type(f"{PASSWORD}\r")
    await first.expect("Repeat the password:")
    await first.type(f"{PASSWORD}\r")
    await first.expect(f"Welcome, {name}!")
    await first.expect("you are in #lobby")
    await first.type("helo\x7flo there\r")  # a typo, rubbed out
    await first.expect(f"<{name}> hello there")
    await first.type("/quit\r")
    await first.expect("bye")

    again = spawn(argv)
    await again.expect("Name:")
    await again.type(f"{name}\r")
    await again.expect("Password:")
    await again.type(f"{PASSWORD}\r")
    await again.expect(f"Welcome, {name}!")
    await again.type("back again\r")
    await again.expect(f"<{name}> back again")
    await again.expect(f"{name}> back again")  # the typed line is shown once, then the message

    for c in (first, again):
        shown = visible(c.screen)
        assert PASSWORD.encode() not in shown, c.screen
        assert b"\xff" not in shown, c.screen  # no stray negotiation bytes


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_non_ascii_text_arrives_whole_and_keeps_the_session(
    server: App, spawn: Callable[[list[str]], PtyClient], client: str
) -> None:
    """Debian's telnet sends 7 bits unless the server asks for BINARY (RFC 856): a byte of a
    UTF-8 character then read as a control key, '✓' (E2 9C 93) as Ctrl-\\ and 'ă' (C4 83) as
    Ctrl-C, each an IAC BRK or IAC IP that ended the session with "* bye"."""
    if shutil.which(PROGRAMS[client]) is None:
        pytest.fail(f"{PROGRAMS[client]} is not installed")
    assert server.telnet_port is not None
    name = f"w{client}"
    person = spawn(CLIENTS[client](server.telnet_port))
    await person.expect("Name:")
    await person.type(f"{name}\r")
    for prompt in ("Choose a password:", "Repeat the password:"):
        await person.expect(prompt)
        await person.type(f"{PASSWORD}\r")
    await person.expect("you are in #lobby")
    for text in ("done ✓", "Bună ziua", "naïve café 😀"):
        await person.type(f"{text}\r")
        await person.expect(f"<{name}> {text}")
    await person.type("/quit\r")
    await person.expect("bye")
    assert b"bye" not in person.screen[: person.screen.index(b"/quit")], person.screen
