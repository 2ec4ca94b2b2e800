"""Helpers for HTTP and WebSocket tests against a real server: clients, accounts, error shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from torbit.app import App

PASSWORD = "secret-pw"


def base_url(app: App) -> str:
    assert app.http_port is not None
    return f"http://127.0.0.1:{app.http_port}"


def ws_url(app: App, query: str = "") -> str:
    assert app.http_port is not None
    return f"ws://127.0.0.1:{app.http_port}/api/v1/ws" + (f"?{query}" if query else "")


@asynccontextmanager
async def http_client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(app), timeout=40) as client:
        yield client


def basic(name: str, password: str = PASSWORD) -> httpx.BasicAuth:
    return httpx.BasicAuth(name, password)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, *names: str, password: str = PASSWORD) -> None:
    for name in names:
        r = await client.post("/api/v1/users", json={"name": name, "password": password})
        assert r.status_code == 201, r.text


async def login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    r = await client.post("/api/v1/sessions", json={"name": name, "password": password})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert isinstance(token, str)
    return token


def error_of(response: httpx.Response, status: int, code: str | None = None) -> str:
    """Assert the one error shape with this status (and code); return the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return message


def texts(body: dict[str, Any]) -> list[str]:
    return [m["text"] for m in body["messages"]]


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until predicate() holds (for state that settles asynchronously)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def change_password(
    client: httpx.AsyncClient,
    new: str,
    *,
    current: str = PASSWORD,
    headers: dict[str, str] | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """`PUT /api/v1/me/password` from `current` to `new`, signed in by `headers` or `auth`
    (else by the client's own auth); the answer, for the test's own assertions."""
    body = {"current_password": current, "new_password": new}
    if auth is None:  # httpx takes auth=None as "no auth", not the client's
        return await client.put("/api/v1/me/password", json=body, headers=headers)
    return await client.put("/api/v1/me/password", json=body, headers=headers, auth=auth)
