"""A leave asked on the WebSocket itself (the `leave` frame): the socket that asked is told
"you left #room", the user's other sockets "(on another connection)", the room "alice left".
The web page left through REST, after which the server told its own socket that the leave
came from another connection (the page hid that line and wrote its own). REST's leave still
tells every socket so, as it must: it was no socket's."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.helpers.http import bearer, http_client, login, register, ws_url
from torbit.app import App

Frame = dict[str, Any]
ELSEWHERE = "(on another connection)"


async def opened(app: App, token: str, *rooms: str) -> ClientConnection:
    ws = await connect(ws_url(app), additional_headers=bearer(token))
    for room in rooms:
        await ws.send(json.dumps({"type": "subscribe", "room": room}))
    await until(ws, "pong")  # logged in and subscribed: the frames are answered in order
    return ws


async def until(ws: ClientConnection, kind: str) -> list[Frame]:
    """Every frame the server sent before it answers a ping (frames are handled in order),
    the first of type `kind` last: pass "pong" to read up to now."""
    await ws.send(json.dumps({"type": "ping"}))
    seen: list[Frame] = []
    async with asyncio.timeout(10):
        while not seen or seen[-1]["type"] != "pong":
            seen.append(json.loads(await ws.recv()))
    if kind != "pong":
        assert any(f["type"] == kind for f in seen), seen
    return seen


def notices(frames: list[Frame]) -> list[str]:
    return [f["text"] for f in frames if f["type"] == "notice"]


async def member_rooms(client: httpx.AsyncClient, token: str) -> list[str]:
    r = await client.get("/api/v1/me/rooms", headers=bearer(token))
    assert r.status_code == 200, r.text
    return [room["name"] for room in r.json()["rooms"]]


async def test_the_socket_that_left_is_told_it_did_and_the_others_elsewhere(server: App) -> None:
    async with http_client(server) as client:
        await register(client, "alice", "bob")
        alice = await login(client, "alice")
        bob = await login(client, "bob")
        here = await opened(server, alice, "garden")
        there = await opened(server, alice, "garden")
        watcher = await opened(server, bob, "garden")
        for ws in (here, there):  # "bob joined #garden" read: what follows is the leave's
            await until(ws, "pong")
        await here.send(json.dumps({"type": "leave", "room": "garden", "ref": 7}))
        answer = await until(here, "notice")
        assert [f for f in answer if f["type"] in ("notice", "error")] == [
            {
                "type": "notice",
                "text": "you left #garden",
                "room": "garden",
                "kind": "part",
                "user": "alice",
                "by": "",
                "detail": "",
            }
        ]
        assert f"you left #garden {ELSEWHERE}" in notices(await until(there, "notice"))
        assert "alice left #garden" in notices(await until(watcher, "notice"))
        assert "garden" not in await member_rooms(client, alice)
        # no longer listening there: a send is refused, as for any non-member
        await here.send(json.dumps({"type": "send", "room": "garden", "text": "hi", "ref": 8}))
        refused = [f for f in await until(here, "error") if f["type"] == "error"]
        assert refused[0]["ref"] == 8

        # REST's leave is no socket's: every one of the user's sockets is told so
        await here.send(json.dumps({"type": "subscribe", "room": "den"}))
        await until(here, "notice")
        r = await client.delete("/api/v1/rooms/den/members/alice", headers=bearer(alice))
        assert r.status_code == 204, r.text
        assert f"you left #den {ELSEWHERE}" in notices(await until(here, "pong"))
        for ws in (here, there, watcher):
            await ws.close()


async def test_a_leave_frame_refused_says_why_with_its_ref(server: App) -> None:
    """Not a member, a private room one may not see (the same "no such room" as a free
    name: no oracle), a room name or reason that is no string: each an error with the
    frame's ref, and the socket goes on."""
    async with http_client(server) as client:
        await register(client, "alice", "carol")
        alice = await login(client, "alice")
        carol = await login(client, "carol")
        r = await client.post(
            "/api/v1/rooms", json={"name": "den", "private": True}, headers=bearer(carol)
        )
        assert r.status_code == 201, r.text
        ws = await opened(server, alice, "lobby")
        tries: list[tuple[Frame, str]] = [
            ({"room": "garden"}, "not_found"),  # no such room
            ({"room": "den"}, "not_found"),  # private, carol's
            ({"room": 5}, "invalid_input"),
            ({"room": "lobby", "reason": ["x"]}, "invalid_input"),
            ({"room": "<b>lobby"}, "invalid_input"),
        ]
        for ref, (fields, code) in enumerate(tries):
            await ws.send(json.dumps({"type": "leave", "ref": ref, **fields}))
            errors = [f for f in await until(ws, "error") if f["type"] == "error"]
            assert [(e["code"], e["ref"]) for e in errors] == [(code, ref)], (fields, errors)
        assert "lobby" in await member_rooms(client, alice)
        await ws.send(json.dumps({"type": "leave", "room": "lobby", "reason": "bye"}))
        assert "you left #lobby" in notices(await until(ws, "notice"))
        await ws.send(json.dumps({"type": "leave", "room": "lobby", "ref": "again"}))
        errors = [f for f in await until(ws, "error") if f["type"] == "error"]
        assert [(e["code"], e["ref"]) for e in errors] == [("conflict", "again")]
        await ws.close()


async def test_two_sockets_leaving_at_once_leave_once(server: App) -> None:
    """Both of alice's sockets send the leave in the same moment: one is told it left, the
    other is refused (no longer a member), never both "you left"."""
    async with http_client(server) as client:
        await register(client, "alice")
        alice = await login(client, "alice")
        one, two = [await opened(server, alice, "garden") for _ in range(2)]
        leave = json.dumps({"type": "leave", "room": "garden"})
        await asyncio.gather(one.send(leave), two.send(leave))
        # each socket's own answer comes before its pong (its frames are handled in order)
        answers = [await until(ws, "pong") for ws in (one, two)]
        told = [notices(frames).count("you left #garden") for frames in answers]
        refused = [[f["code"] for f in frames if f["type"] == "error"] for frames in answers]
        assert sorted(told) == [0, 1] and sorted(refused) == [[], ["conflict"]], answers
        assert "garden" not in await member_rooms(client, alice)
        for ws in (one, two):
            await ws.close()
