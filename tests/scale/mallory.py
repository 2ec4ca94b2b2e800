"""One user with a session open on every door of one node at once (telnet, IRC with
echo-message, a WebSocket opened with a token, HTTP with that token and HTTP Basic on the
classic routes), for the attacks of tests/scale/test_rights_race_cluster.py: she fires
sends on all of them together while a right is taken away on another node, and every line
and frame each door sends her is kept, so a test counts what was acknowledged where.

The moment the node applied the event is read from the node itself: a handler added after
the core's own (`applied`), so it runs as soon as theirs have."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection

from tests.helpers.http import PASSWORD, basic, bearer, login
from tests.helpers.irc import RawIrc, joined
from tests.helpers.telnet_client import TelnetClient, strip_iac
from tests.scale.clients import url
from tests.security.conftest import ws_from
from torbit.app import App
from torbit.core.delivery import NoticeKind
from torbit.core.events import NodeEvent, RoomNotice

DOORS = ("telnet", "irc", "ws", "token", "basic")
E = TypeVar("E", bound=NodeEvent)


def applied(node: App, kind: type[E], where: Callable[[E], bool] | None = None) -> list[datetime]:
    """When `node` applies each event of this kind (filled as it happens), by the store's
    time as the node tells it, which dates its messages (attack60); `where`: only those it
    holds for (a RoomNotice of one kind)."""
    at: list[datetime] = []
    assert node.core is not None
    clock = node.core.mutes.clock

    def seen(event: E) -> None:
        if where is None or where(event):
            at.append(clock.now())

    node.core.moderation._events.on(kind, seen)
    return at


def notice(kind: NoticeKind) -> Callable[[RoomNotice], bool]:
    """`applied`'s `where` for the room notices of one kind (a voice, a devoice)."""
    return lambda event: event.kind == kind.value


class Mallory:
    """Sessions of one user on every door of one node, each read all along."""

    def __init__(self, node: App, name: str, room: str) -> None:
        self.node, self.name, self.room = node, name, room
        self.heard: dict[str, list[str]] = {d: [] for d in DOORS}
        self.answers: dict[str, dict[str, int]] = {"token": {}, "basic": {}}
        self._tasks: list[asyncio.Task[Any]] = []
        self.telnet: TelnetClient
        self.irc: RawIrc
        self.ws: ClientConnection
        self.token_client: httpx.AsyncClient
        self.basic_client: httpx.AsyncClient

    async def open(self) -> Mallory:
        a, room = self.node, self.room
        assert a.telnet_port is not None
        self.telnet = await TelnetClient.connect(a.telnet_port)
        await self.telnet.login(self.name)
        self.telnet.send(f"/join {room}")
        await self.telnet.expect(rf"^\* you are in #{room}")
        self.irc = await joined(a, self.name, room, caps="echo-message", password=PASSWORD)
        async with httpx.AsyncClient(base_url=url(a), timeout=40) as client:
            token = await login(client, self.name)
        self.token_client = httpx.AsyncClient(base_url=url(a), headers=bearer(token), timeout=40)
        self.basic_client = httpx.AsyncClient(base_url=url(a), auth=basic(self.name), timeout=40)
        self.ws = await ws_from(a, bearer(token), logged_in=True)
        await self.ws.send(json.dumps({"type": "subscribe", "room": room}))
        self._tasks = [
            asyncio.create_task(self._read_telnet()),
            asyncio.create_task(self._read_irc()),
            asyncio.create_task(self._read_ws()),
        ]
        await self.until("ws", lambda lines: any(f"you are in #{room}" in x for x in lines))
        return self

    async def _read_telnet(self) -> None:
        with contextlib.suppress(Exception):
            while not self.telnet.reader.at_eof():
                self.heard["telnet"] += await self.telnet.lines_for(0.05)
        # closed, or reset (a server closing with her lines unread sends a RST): the lines a
        # failed read had split off are lost with it, so every line is taken from the bytes
        text = strip_iac(bytes(self.telnet.raw)).decode("utf-8", "replace")
        self.heard["telnet"] = [line.rstrip("\r") for line in text.split("\n")] + ["<EOF>"]

    async def _read_irc(self) -> None:
        with contextlib.suppress(Exception):
            while raw := await self.irc.reader.readline():
                self.heard["irc"].append(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self.heard["irc"].append("<EOF>")

    async def _read_ws(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                self.heard["ws"].append(str(frame))
        self.heard["ws"].append(f"<closed {self.ws.close_code}>")

    async def until(self, door: str, done: Callable[[list[str]], bool], within: float = 15) -> None:
        deadline = time.monotonic() + within
        while not done(self.heard[door]):
            assert time.monotonic() < deadline, (door, self.heard[door][-5:])
            await asyncio.sleep(0.01)

    def fire(self, tag: str, n: int, basic_path: str = "") -> list[asyncio.Task[None]]:
        """n sends at once, spread over the doors, each text `tag-door-i`; the HTTP ones
        are tasks (their answers land in `answers`), the others are written now."""
        tasks = []
        for i in range(n):
            door = DOORS[i % len(DOORS)]
            text = f"{tag}-{door}-{i}"
            if door == "telnet":
                self.telnet.send(text)
            elif door == "irc":
                self.irc.send(f"PRIVMSG #{self.room} :{text}")
            elif door == "ws":
                frame = {"type": "send", "room": self.room, "text": text, "ref": text}
                tasks.append(asyncio.create_task(self.ws.send(json.dumps(frame))))
            else:
                tasks.append(asyncio.create_task(self._post(door, text, basic_path)))
        return tasks

    async def _post(self, door: str, text: str, basic_path: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            if door == "token":
                r = await self.token_client.post(
                    f"/api/v1/rooms/{self.room}/messages", json={"text": text}
                )
            else:
                path = basic_path or f"/send/{self.room}/{self.name}"
                r = await self.basic_client.post(path, content=text)
            self.answers[door][text] = r.status_code

    def acknowledged(self, tag: str) -> dict[str, set[str]]:
        """The texts of `tag` each door said were stored."""
        out: dict[str, set[str]] = {d: set() for d in DOORS}
        for text, status in [*self.answers["token"].items(), *self.answers["basic"].items()]:
            if text.startswith(tag + "-") and status in (200, 201):
                out[text.split("-")[1]].add(text)
        for line in self.heard["telnet"]:
            if f"<{self.name}> {tag}-telnet-" in line:
                out["telnet"].add(line.split("> ", 1)[1])
        for line in self.heard["irc"]:
            head = f"PRIVMSG #{self.room} "
            if head in line and line.split(head, 1)[1].lstrip(":").startswith(f"{tag}-irc-"):
                out["irc"].add(line.split(head, 1)[1].lstrip(":"))
        for raw in self.heard["ws"]:
            frame = json.loads(raw) if raw.startswith("{") else {}
            if frame.get("type") == "sent" and str(frame.get("ref", "")).startswith(tag + "-"):
                out["ws"].add(frame["ref"])
        return out

    def overheard(self, sender: str, prefix: str) -> dict[str, set[str]]:
        """The texts from `sender` starting with `prefix` each live door delivered to her."""
        out: dict[str, set[str]] = {"telnet": set(), "irc": set(), "ws": set()}
        for line in self.heard["telnet"]:
            if f"<{sender}> {prefix}" in line:
                out["telnet"].add(line.split("> ", 1)[1])
        head = f"PRIVMSG #{self.room} "
        for line in self.heard["irc"]:
            if line.startswith(f":{sender}!") and head in line:
                text = line.split(head, 1)[1].lstrip(":")
                if text.startswith(prefix):
                    out["irc"].add(text)
        for raw in self.heard["ws"]:
            frame = json.loads(raw) if raw.startswith("{") else {}
            m = frame.get("message") if frame.get("type") == "message" else None
            if m and m["sender"] == sender and m["text"].startswith(prefix):
                out["ws"].add(m["text"])
        return out

    async def close(self) -> None:
        """Each connection closed while its reader still reads: a WebSocket whose frames
        nobody takes stops reading at 16 queued, misses the server's close frame and waits
        out its 10 s close timeout (python-websockets/websockets#1555)."""
        for close in (
            self.telnet.close,
            self.irc.close,
            self.ws.close,
            self.token_client.aclose,
            self.basic_client.aclose,
        ):
            with contextlib.suppress(Exception):
                await close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
