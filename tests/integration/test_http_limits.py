"""Abuse limits as the HTTP front door shows them: 429 with Retry-After, refused WebSockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import ServerFactory
from tests.helpers.http import (
    PASSWORD,
    basic,
    bearer,
    error_of,
    http_client,
    login,
    register,
    ws_url,
)
from tests.helpers.telnet_client import TelnetClient


async def test_failed_logins_back_off_with_retry_after(make_server: ServerFactory) -> None:
    app = await make_server(limits={"login_free_attempts": 2})
    async with http_client(app) as client:
        await register(client, "alice")
        wrong = {"name": "alice", "password": "not-the-password"}
        for _ in range(3):
            error_of(await client.post("/api/v1/sessions", json=wrong), 401)
        r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
        assert "too many failed logins" in error_of(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        error_of(await client.get("/api/v1/me", auth=basic("alice")), 429, "rate_limited")


async def test_sending_too_fast_is_429(make_server: ServerFactory) -> None:
    app = await make_server(limits={"message_rate": 0.5, "message_burst": 1})
    async with http_client(app) as client:
        await register(client, "alice")
        r = await client.post("/send/lobby/alice", content="one", auth=basic("alice"))
        assert r.status_code == 201
        r = await client.post("/send/lobby/alice", content="two", auth=basic("alice"))
        error_of(r, 429, "rate_limited")
        assert r.headers["retry-after"] == "2"
        r = await client.post(
            "/api/v1/rooms/lobby/messages", json={"text": "three"}, auth=basic("alice")
        )
        error_of(r, 429, "rate_limited")


async def test_connections_per_address_are_shared_with_telnet(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"connections_per_ip": 1})
    async with http_client(app) as client:
        await register(client, "alice")
        token = await login(client, "alice")
    assert app.telnet_port is not None
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.read_until("Name: ")
    # the WebSocket's connection is counted before its handshake is read, and refused
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url(app), additional_headers=bearer(token))
    response = refused.value.response
    assert response.status_code == 503
    assert json.loads(response.body)["error"]["code"] == "unavailable"
    assert b"too many connections from your address" in response.body
    async with http_client(app) as client:
        error_of(await client.get("/healthz"), 503, "unavailable")
    await telnet.close()
    async with asyncio.timeout(10):  # a slot is free once the server has seen telnet go
        while True:
            try:
                ws = await connect(ws_url(app), additional_headers=bearer(token))
                break
            except InvalidStatus:
                await asyncio.sleep(0.05)
    assert json.loads(await ws.recv())["type"] == "notice"
    await ws.close()
