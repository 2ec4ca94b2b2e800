"""Clients of a torbit cluster for the scale-out tests: a WebSocket user that keeps every
frame it gets, an HTTP user on Basic auth, how to read messages off a telnet client, and
two IRC clients of different nodes brought into one channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any, Protocol

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.helpers.http import PASSWORD, basic, bearer, login, register
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient


async def in_channel(channel: str, here: RawIrc, there: RawIrc, nick: str) -> None:
    """`there` (`nick`) joins `channel` after `here`, and `here`, on the other node, sees it
    join (told through the presence of `there`'s node)."""
    here.send(f"JOIN {channel}")
    await here.expect(" 366 ")
    there.send(f"JOIN {channel}")
    await there.expect(" 366 ")
    await here.expect(f":{nick}!", timeout=30)


class Node(Protocol):
    """A running node, in this process (`App`) or not (`NodeProcess`)."""

    telnet_port: int | None
    http_port: int | None


Frame = dict[str, Any]
TIMEOUT = 15.0

# "[15:04:05] <alice> hello" (text) or "[15:04:05] * alice waves" (action)
_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] <([^>]+)> (.*)$")


def url(node: Node) -> str:
    assert node.http_port is not None
    return f"http://127.0.0.1:{node.http_port}"


class HttpUser:
    """One user talking to one node over HTTP with Basic credentials."""

    def __init__(self, node: Node, name: str) -> None:
        self.name = name
        self.client = httpx.AsyncClient(base_url=url(node), auth=basic(name), timeout=40)

    async def register(self) -> HttpUser:
        await register(self.client, self.name)
        return self

    async def post(self, room: str, text: str) -> httpx.Response:
        return await self.client.post(f"/api/v1/rooms/{room}/messages", json={"text": text})

    async def send(self, room: str, text: str) -> Frame:
        """Send and insist on success; the stored message."""
        r = await self.post(room, text)
        assert r.status_code == 201, r.text
        body: Frame = r.json()
        return body

    async def join(self, room: str) -> None:
        r = await self.client.put(f"/api/v1/rooms/{room}/members/{self.name}")
        assert r.status_code == 200, r.text

    async def history(self, room: str, limit: int = 1000) -> list[Frame]:
        r = await self.client.get(f"/api/v1/rooms/{room}/messages", params={"limit": limit})
        assert r.status_code == 200, r.text
        messages: list[Frame] = r.json()["messages"]
        return messages

    async def receive(self, room: str, **params: Any) -> list[Frame]:
        r = await self.client.get(f"/receive/{room}/{self.name}", params=params)
        assert r.status_code == 200, r.text
        messages: list[Frame] = r.json()["messages"]
        return messages

    async def close(self) -> None:
        await self.client.aclose()


class WsUser:
    """A WebSocket session; a reader task files every frame, messages apart."""

    def __init__(self, name: str, ws: ClientConnection) -> None:
        self.name = name
        self.ws = ws
        self.frames: list[Frame] = []
        self.messages: list[Frame] = []  # the "message" field of every message frame
        self._pos = 0  # frames before this one were passed over by `frame`
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, node: Node, name: str, *, new: bool = True) -> WsUser:
        async with httpx.AsyncClient(base_url=url(node), timeout=40) as client:
            if new:
                await register(client, name)
            token = await login(client, name, PASSWORD)
        ws = await connect(
            url(node).replace("http", "ws") + "/api/v1/ws", additional_headers=bearer(token)
        )
        user = cls(name, ws)
        await user.frame("notice", "logged in as")
        return user

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            self.frames.append(frame)
            if frame["type"] == "message":
                self.messages.append(frame["message"])
            self._changed.set()

    async def _until(self, done: Any, what: str, timeout: float) -> Any:
        try:
            async with asyncio.timeout(timeout):
                while (result := done()) is None:
                    self._changed.clear()
                    if self._reader.done():
                        raise AssertionError(f"{self.name}: connection closed waiting for {what}")
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: no {what} within {timeout}s; last frames {self.frames[-5:]}"
            ) from None
        return result

    async def frame(self, kind: str, text_has: str = "", timeout: float = TIMEOUT) -> Frame:
        """The next frame of this type (and text); frames before it are passed over."""

        def find() -> Frame | None:
            while self._pos < len(self.frames):
                f = self.frames[self._pos]
                self._pos += 1
                if f["type"] != kind:
                    continue
                text = f["message"]["text"] if kind == "message" else f.get("text", "")
                if text_has in (text or ""):
                    return f
            return None

        frame: Frame = await self._until(find, f"{kind} frame {text_has!r}", timeout)
        return frame

    async def wait_messages(self, n: int, timeout: float = TIMEOUT) -> list[Frame]:
        """Once at least n messages arrived: all of them."""
        await self._until(
            lambda: True if len(self.messages) >= n else None,
            f"{n} messages (have {len(self.messages)})",
            timeout,
        )
        return self.messages

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages]

    async def send(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def subscribe(self, room: str) -> None:
        await self.send({"type": "subscribe", "room": room})
        await self.frame("notice", f"you are in #{room}")

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


async def telnet_messages(
    client: TelnetClient, n: int, timeout: float = TIMEOUT
) -> list[tuple[str, str]]:
    """The next n chat lines, as (sender, text); notices in between are skipped."""
    out: list[tuple[str, str]] = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            m = await client.expect(r"^\[\d\d:\d\d:\d\d\] <", timeout=timeout)
            line = _LINE.match(m.string)
            assert line is not None, m.string
            out.append((line.group(1), line.group(2)))
    return out


class Clients:
    """Every client a test opens, closed at its end whatever happened (the `clients` fixture)."""

    def __init__(self) -> None:
        self._open: list[HttpUser | WsUser | TelnetClient] = []

    async def http(self, node: Node, name: str, *, new: bool = True) -> HttpUser:
        user = HttpUser(node, name)
        self._open.append(user)
        return await user.register() if new else user

    async def ws(self, node: Node, name: str, *, new: bool = True) -> WsUser:
        user = await WsUser.open(node, name, new=new)
        self._open.append(user)
        return user

    async def telnet(self, node: Node, name: str) -> TelnetClient:
        assert node.telnet_port is not None
        client = await TelnetClient.connect(node.telnet_port)
        self._open.append(client)
        await client.login(name)
        return client

    async def telnet_in(
        self, node: Node, name: str, room: str = "hall", *, verb: str = "join"
    ) -> TelnetClient:
        """`name`'s telnet session on `node`, in #`room` (`verb`: "join" it or "create" it),
        once told so."""
        client = await self.telnet(node, name)
        client.send(f"/{verb} {room}")
        await client.expect(rf"^\* you are in #{room}")
        return client

    async def owner(self, node: Node, name: str, *rooms: str) -> HttpUser:
        """`name` over HTTP on `node`, who created each of `rooms` (public): their owner."""
        user = await self.http(node, name)
        for room in rooms:
            r = await user.client.post("/api/v1/rooms", json={"name": room})
            assert r.status_code == 201, r.text
        return user

    async def telnet_login(self, node: Node, name: str, until: str) -> TelnetClient:
        """A new user through the telnet login dialog, up to the line matching `until`."""
        assert node.telnet_port is not None
        client = await TelnetClient.connect(node.telnet_port)
        self._open.append(client)
        await client.read_until("Name: ")
        client.send(name)
        for prompt in ("Choose a password: ", "Repeat the password: "):
            await client.read_until(prompt)
            client.send(PASSWORD)
        await client.expect(until)
        return client

    async def close(self) -> None:
        for client in reversed(self._open):
            with contextlib.suppress(Exception):
                await client.close()
