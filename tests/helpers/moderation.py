"""Helpers for the rooms-with-owners tests: one user's telnet, HTTP and WebSocket doors, and
a look at the audit log."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.helpers.http import PASSWORD, base_url, basic, bearer, login, register, ws_url
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.models import AuditEntry

Frame = dict[str, Any]


def services(app: App) -> Any:
    assert app.core is not None
    return app.core


async def audit(app: App, room: str | None = None) -> list[AuditEntry]:
    entries: list[AuditEntry] = await services(app).store.list_audit(room, 1000)
    return entries


async def telnet(app: App, name: str) -> TelnetClient:
    """Logged in (registering on first use), in the default room or, for a user who went into
    a room since, that room (core/comeback.py)."""
    assert app.telnet_port is not None
    client = await TelnetClient.connect(app.telnet_port)
    await client.login(name, PASSWORD)
    return client


async def command(client: TelnetClient, line: str, answer: str) -> str:
    """Send a line and wait for the line matching `answer` (a regex); that line."""
    client.send(line)
    return (await client.expect(answer)).string


def frame_text(f: Frame) -> str:
    """A message's text, a notice's text or an error's message."""
    if f["type"] == "message":
        return str(f["message"]["text"])
    return str(f.get("text") or f.get("message") or "")


class Ws:
    """A WebSocket session that files every frame; `next` finds the next one of a kind."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self._pos = 0
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, app: App, name: str) -> Ws:
        async with httpx.AsyncClient(base_url=base_url(app), timeout=20) as client:
            token = await login(client, name)
        session = cls(await connect(ws_url(app), additional_headers=bearer(token)))
        await session.next("notice", "logged in as")
        return session

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
                self._arrived.set()
        self._arrived.set()

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, kind: str, text_has: str = "", timeout: float = 10) -> Frame:
        async with asyncio.timeout(timeout):
            while True:
                while self._pos < len(self.frames):
                    f = self.frames[self._pos]
                    self._pos += 1
                    if f["type"] == kind and text_has in frame_text(f):
                        return f
                if self._reader.done():
                    raise AssertionError(f"closed while waiting for {kind} {text_has!r}")
                self._arrived.clear()
                await self._arrived.wait()

    async def subscribe(self, room: str) -> None:
        await self.send(type="subscribe", room=room)
        await self.next("notice", f"you are in #{room}")

    def texts(self) -> list[str]:
        return [f["message"]["text"] for f in self.frames if f["type"] == "message"]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


def api(app: App, name: str) -> httpx.AsyncClient:
    """An HTTP client acting as `name` (Basic auth). It drops a connection idle for 2 s, before
    uvicorn's keep-alive timeout (5 s) closes it: a request sent on a connection the server is
    closing at that moment fails with a ReadError (seen under a loaded CI)."""
    return httpx.AsyncClient(
        base_url=base_url(app),
        auth=basic(name),
        timeout=20,
        limits=httpx.Limits(keepalive_expiry=2.0),
    )


async def create_room(client: httpx.AsyncClient, name: str, private: bool = False) -> Frame:
    r = await client.post("/api/v1/rooms", json={"name": name, "private": private})
    assert r.status_code == 201, r.text
    body: Frame = r.json()
    return body


async def open_hall(app: App, *others: str) -> App:
    """alice owns the public room #hall; bob and carol are members; `others` are users."""
    async with api(app, "alice") as alice:
        await register(alice, "alice", "bob", "carol", *others)
        await create_room(alice, "hall")
    for name in ("bob", "carol"):
        async with api(app, name) as c:
            assert (await c.put(f"/api/v1/rooms/hall/members/{name}")).status_code == 200
    return app


async def mute(app: App, name: str, minutes: int) -> Frame:
    """alice mutes `name` in #hall for `minutes`; the answer's body (`until`)."""
    async with api(app, "alice") as alice:
        r = await alice.put(f"/api/v1/rooms/hall/mutes/{name}", json={"minutes": minutes})
    assert r.status_code == 200, r.text
    body: Frame = r.json()
    return body


async def in_hall(app: App, name: str) -> TelnetClient:
    """`name` on telnet, talking in #hall (where a login already brings a member who
    joined it last, over HTTP: core/comeback.py)."""
    client = await telnet(app, name)
    await command(client, "/join hall", r"^\* you are (already )?in #hall")
    return client


async def irc_in_hall(app: App, name: str) -> RawIrc:
    """`name` over IRC with its password, in #hall."""
    irc = await RawIrc.connect(app)
    irc.send(f"PASS {name}:{PASSWORD}")
    await irc.register(name)
    irc.send("JOIN #hall")
    await irc.expect(" 366 ")
    return irc
