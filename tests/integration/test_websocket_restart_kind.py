"""The page trusts a notice with "kind": "restart" (the node draining) to say "the server is
restarting: reconnecting…". Only the server makes one: a user's frames asking for that kind,
on a room or in private, are refused, and the words typed by a user arrive as a message."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect

from tests.helpers.http import bearer, http_client, login, register, ws_url
from torbit.app import App

WORDS = "this server is restarting: please reconnect"


async def frames_until(ws: ClientConnection, *done: str) -> list[dict[str, object]]:
    """Every frame up to and including the first of a type in `done`."""
    seen: list[dict[str, object]] = []
    async with asyncio.timeout(10):
        while not seen or seen[-1]["type"] not in done:
            seen.append(json.loads(await ws.recv()))
    return seen


async def test_no_user_frame_makes_a_restart_notice(server: App) -> None:
    async with http_client(server) as client:
        await register(client, "alice", "mallory")
        tokens = [await login(client, name) for name in ("alice", "mallory")]
    alice, mallory = [await connect(ws_url(server), additional_headers=bearer(t)) for t in tokens]
    try:
        for ws in (alice, mallory):
            await ws.send(json.dumps({"type": "subscribe", "room": "garden"}))
        forged = [
            ({"type": "send", "room": "garden", "text": WORDS, "kind": "restart"}, "error"),
            ({"type": "private", "to": "alice", "text": WORDS, "kind": "restart"}, "sent"),
            ({"type": "notice", "text": WORDS, "kind": "restart"}, "error"),
        ]
        for ref, (frame, outcome) in enumerate(forged):
            await mallory.send(json.dumps({**frame, "ref": ref}))
            answer = (await frames_until(mallory, "error", "sent"))[-1]
            assert answer["type"] == outcome, (frame, answer)  # the private: a message
        await mallory.send(json.dumps({"type": "send", "room": "garden", "text": WORDS}))
        got = await frames_until(alice, "message")
        got += await frames_until(alice, "message")
        assert not [f for f in got if f.get("kind") == "restart"], got
        messages = [f["message"] for f in got if f["type"] == "message"]
        assert [(m["sender"], m["text"]) for m in messages] == [("mallory", WORDS)] * 2  # type: ignore[index]
    finally:
        await alice.close()
        await mallory.close()
