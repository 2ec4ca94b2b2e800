"""The classic routes over real HTTP: /send and /receive, their cursor, long polling and auth."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi.dependencies.utils import solve_dependencies
from pydantic import Field, TypeAdapter

from tests.conftest import ServerFactory
from tests.helpers.http import (
    basic,
    error_of,
    eventually,
    http_client,
    register,
    texts,
)
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.frontends.http.classic import MAX_RECEIVE, plain_number
from torbit.frontends.http.longpoll import MAX_WAIT_SECONDS

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def create(client: httpx.AsyncClient, room: str, user: str) -> None:
    """Rooms other than the default one are made by a join, never by the classic routes."""
    r = await client.put(f"/api/v1/rooms/{room}/members/{user}", auth=basic(user))
    assert r.status_code == 200, r.text


async def send(client: httpx.AsyncClient, room: str, user: str, text: str) -> dict[str, object]:
    r = await client.post(
        f"/send/{room}/{user}",
        content=text,
        auth=basic(user),
        headers={"content-type": "text/plain"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body, dict)
    return body


async def receive(
    client: httpx.AsyncClient, room: str, user: str, **params: float | str
) -> list[str]:
    r = await client.get(f"/receive/{room}/{user}", auth=basic(user), params=params)
    assert r.status_code == 200, r.text
    return texts(r.json())


async def test_send_answers_the_stored_message(client: httpx.AsyncClient) -> None:
    await create(client, "torbit-room-1", "bob")
    first = await send(client, "Torbit-Room-1", "alice", "hello")
    assert first["room"] == "torbit-room-1"  # rooms are named by their case-folded key
    assert first["sender"] == "alice" and first["text"] == "hello"
    assert ISO_UTC.match(str(first["sent_at"]))
    r = await client.post(
        "/send/torbit-room-1/alice", json={"text": "as json"}, auth=basic("alice")
    )
    assert r.status_code == 201
    second = r.json()
    assert second["text"] == "as json"
    assert isinstance(first["id"], int) and second["id"] > first["id"]


async def test_receive_returns_each_message_once_oldest_first(client: httpx.AsyncClient) -> None:
    await create(client, "room1", "alice")
    for text in ("one", "two", "three"):
        await send(client, "room1", "alice", text)
    # bob has never been in the room: his first receive starts at the oldest message
    assert await receive(client, "room1", "bob") == ["one", "two", "three"]
    assert await receive(client, "room1", "bob") == []
    await send(client, "room1", "carol", "four")
    r = await client.get("/receive/room1/bob", auth=basic("bob"))
    (m,) = r.json()["messages"]
    assert (m["sender"], m["text"], m["room"]) == ("carol", "four", "room1")
    assert set(m) >= {"id", "room", "sender", "text", "sent_at"}
    # alice's cursor is her own
    assert await receive(client, "room1", "alice") == ["one", "two", "three", "four"]


async def test_limit_moves_the_cursor_only_over_what_was_returned(
    client: httpx.AsyncClient,
) -> None:
    for i in range(5):
        await send(client, "lobby", "alice", f"m{i}")
    assert await receive(client, "lobby", "bob", limit=2) == ["m0", "m1"]
    assert await receive(client, "lobby", "bob", limit=2) == ["m2", "m3"]
    assert await receive(client, "lobby", "bob") == ["m4"]
    error_of(
        await client.get("/receive/lobby/bob", auth=basic("bob"), params={"limit": 0}),
        422,
        "invalid_input",
    )
    error_of(
        await client.get("/receive/lobby/bob", auth=basic("bob"), params={"limit": 1001}),
        422,
        "invalid_input",
    )


async def test_ignored_senders_are_left_out_and_skipped(client: httpx.AsyncClient) -> None:
    r = await client.put("/api/v1/me/ignores/carol", auth=basic("bob"))
    assert r.status_code == 204
    await send(client, "lobby", "carol", "spam 1")
    await send(client, "lobby", "alice", "hello")
    await send(client, "lobby", "carol", "spam 2")
    assert await receive(client, "lobby", "bob") == ["hello"]
    await send(client, "lobby", "alice", "again")
    assert await receive(client, "lobby", "bob") == ["again"]


async def test_long_poll_returns_as_soon_as_a_message_arrives(
    server: App, client: httpx.AsyncClient
) -> None:
    await send(client, "lobby", "bob", "old")
    assert await receive(client, "lobby", "bob") == ["old"]
    hub = server.core.subscriptions  # type: ignore[union-attr]
    waiting = asyncio.create_task(receive(client, "lobby", "bob", wait=30))
    await eventually(lambda: len(hub.listeners("lobby")) == 1)
    await send(client, "lobby", "alice", "wake up")
    assert await waiting == ["wake up"]
    assert hub.listeners("lobby") == []  # the waiter is gone


async def test_unknown_rooms_are_404_and_never_created(client: httpx.AsyncClient) -> None:
    r = await client.post("/send/nowhere/alice", content="hi", auth=basic("alice"))
    missing = error_of(r, 404, "not_found")
    # the original system made a room on first use: the answer says how rooms are made
    assert (
        missing == "no such room #nowhere: rooms are made with POST /api/v1/rooms or telnet's /join"
    )
    # ... in the same words for a private room the caller may not see
    made = await client.post(
        "/api/v1/rooms", json={"name": "hidden", "private": True}, auth=basic("bob")
    )
    assert made.status_code == 201, made.text
    for r in (
        await client.post("/send/hidden/alice", content="hi", auth=basic("alice")),
        await client.get("/receive/hidden/alice", auth=basic("alice")),
    ):
        assert error_of(r, 404, "not_found") == missing.replace("nowhere", "hidden")
    error_of(await client.get("/receive/nowhere/alice", auth=basic("alice")), 404, "not_found")
    error_of(await client.get("/api/v1/rooms/nowhere", auth=basic("alice")), 404, "not_found")
    r = await client.get("/api/v1/me/rooms", auth=basic("alice"))
    assert r.json()["rooms"] == []  # and alice was not made a member of bob's private room
    # the server's default room is there for everyone, and belongs to no one
    await send(client, "lobby", "alice", "hi")
    assert (await client.get("/api/v1/rooms/lobby", auth=basic("alice"))).json()["owner"] is None


async def test_long_poll_without_news_answers_an_empty_list(client: httpx.AsyncClient) -> None:
    await create(client, "quiet", "bob")
    assert await receive(client, "quiet", "bob", wait=0.2) == []
    error_of(
        await client.get("/receive/quiet/bob", auth=basic("bob"), params={"wait": 31}),
        422,
        "invalid_input",
    )


async def test_long_poll_is_woken_by_telnet(server: App, client: httpx.AsyncClient) -> None:
    hub = server.core.subscriptions  # type: ignore[union-attr]
    assert await receive(client, "lobby", "bob") == []
    waiting = asyncio.create_task(receive(client, "lobby", "bob", wait=30))
    await eventually(lambda: len(hub.listeners("lobby")) == 1)
    assert server.telnet_port is not None
    t = await TelnetClient.connect(server.telnet_port)
    await t.login("alice")
    t.send("from telnet")
    assert await waiting == ["from telnet"]
    await t.close()


async def test_missing_or_wrong_credentials_get_401_with_a_challenge(
    client: httpx.AsyncClient,
) -> None:
    cases: list[dict[str, object]] = [
        {},
        {"auth": basic("alice", "wrong-password")},
        {"auth": basic("nobody")},
        {"auth": basic("bad name!")},
        {"headers": {"Authorization": "Basic !!!not-base64"}},
        {"headers": {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}},
        {"headers": {"Authorization": "Bearer not-a-token"}},
        {"headers": {"Authorization": "Digest whatever"}},
    ]
    for kwargs in cases:
        for method, path in (("POST", "/send/lobby/alice"), ("GET", "/receive/lobby/alice")):
            r = await client.request(method, path, content=b"hi", **kwargs)  # type: ignore[arg-type]
            error_of(r, 401, "unauthenticated")
            assert r.headers["www-authenticate"].startswith('Basic realm="torbit"')


async def test_acting_as_someone_else_is_403(client: httpx.AsyncClient) -> None:
    r = await client.post("/send/lobby/bob", content="not me", auth=basic("alice"))
    assert "alice" in error_of(r, 403, "forbidden")
    error_of(await client.get("/receive/lobby/bob", auth=basic("alice")), 403, "forbidden")
    error_of(await client.get("/receive/lobby/nobody", auth=basic("alice")), 403, "forbidden")
    # names are case-insensitive, so this is alice herself
    r = await client.post("/send/lobby/ALICE", content="me", auth=basic("alice"))
    assert r.status_code == 201 and r.json()["sender"] == "alice"
    # nothing bob-like was stored
    assert await receive(client, "lobby", "carol") == ["me"]


async def test_a_classic_send_solves_no_dependencies_and_stays_documented(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /send is served by its lean handler (frontends/http/lean.py): FastAPI solves no
    dependencies for it, while the API description still shows its parameters and security."""
    solved: list[object] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs.get("dependant"))
        return await solve_dependencies(*args, **kwargs)

    monkeypatch.setattr("fastapi.routing.solve_dependencies", counting)
    assert (await send(client, "lobby", "alice", "lean"))["text"] == "lean"
    assert solved == []
    assert (await client.get("/api/v1/me", auth=basic("alice"))).status_code == 200
    assert solved  # the counter counts: other routes still go through FastAPI's solving
    error_of(await client.put("/send/lobby/alice", auth=basic("alice")), 405)
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/send/{room}/{user}"]["post"]
    assert {(p["name"], p["in"]) for p in operation["parameters"]} == {
        ("room", "path"),
        ("user", "path"),
    }
    assert {next(iter(s)) for s in operation["security"]} == {"basic", "bearer"}
    assert operation["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessageOut"
    }


async def test_a_classic_receive_solves_no_dependencies_unless_its_query_is_unusual(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /receive is served by its lean handler too when `limit` and `wait` are absent or
    plain numbers in range; anything else is handed to FastAPI, whose validation answers
    (422, the usual shape), so no input is judged differently. Documented as before."""
    solved: list[object] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs.get("dependant"))
        return await solve_dependencies(*args, **kwargs)

    monkeypatch.setattr("fastapi.routing.solve_dependencies", counting)
    for i in range(3):
        await send(client, "lobby", "alice", f"m{i}")
    assert await receive(client, "lobby", "bob", limit=1) == ["m0"]
    assert await receive(client, "lobby", "bob", limit=1, wait="0.5") == ["m1"]
    assert await receive(client, "lobby", "bob") == ["m2"]
    assert await receive(client, "lobby", "bob", wait=0) == []
    assert solved == []
    unusual: list[dict[str, Any]] = [
        {"limit": "abc"},
        {"limit": 0},
        {"limit": "1.5"},
        {"limit": 1001},
        {"wait": -1},
        {"wait": "31"},
        {"wait": "nan"},
        {"limit": ""},
    ]
    for params in unusual:
        r = await client.get("/receive/lobby/bob", auth=basic("bob"), params=params)
        error_of(r, 422, "invalid_input")
    assert len(solved) == 8  # each declined, and answered by FastAPI
    # FastAPI takes some that are not plain: " 2" is 2, "1e0" seconds is 1, "1.0" is 1
    await send(client, "lobby", "alice", "m3")
    assert await receive(client, "lobby", "bob", limit=" 2", wait="1e0") == ["m3"]
    await send(client, "lobby", "alice", "m4")
    assert await receive(client, "lobby", "bob", limit="1.0") == ["m4"]
    assert len(solved) == 10
    # and an unauthenticated request with an unusual query is still told to authenticate
    r = await client.get("/receive/lobby/bob", params={"limit": "abc"})
    error_of(r, 401, "unauthenticated")
    error_of(await client.get("/receive/lobby/bob", params={"limit": 5}), 401, "unauthenticated")
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/receive/{room}/{user}"]["get"]
    assert {(p["name"], p["in"]) for p in operation["parameters"]} == {
        ("room", "path"),
        ("user", "path"),
        ("limit", "query"),
        ("wait", "query"),
    }
    assert {next(iter(s)) for s in operation["security"]} == {"basic", "bearer"}


@pytest.mark.parametrize(
    "value",
    [
        *("1", "100", "0100", "1000", "1001", "0", "00", "30", "30.0", "30.5", "0.25"),
        *("007.5", "1.", ".5", "1_0", "1e1", "+1", "-0", "-1", "inf", "nan", "", " 1"),
        *("١٢", "²", "9" * 20, "1.5.5", "0x10"),
    ],
)
def test_a_plain_number_is_one_fastapi_reads_the_same(value: str) -> None:
    """What the lean receive takes itself (`plain_number`), FastAPI's validation of the same
    declaration (pydantic, lax) takes too, as the same number; the rest it declines."""
    limit = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_RECEIVE)])
    wait = TypeAdapter(Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)])
    cases = ((limit, True, 1, MAX_RECEIVE), (wait, False, 0, MAX_WAIT_SECONDS))
    for adapter, integer, low, high in cases:
        mine = plain_number(value, 7, low, high, integer=integer)
        if mine is not None:
            assert adapter.validate_python(value) == mine
            assert type(mine) is (int if integer else float)
    assert plain_number(None, 7, 1, 10, integer=True) == 7


async def test_bad_bodies_get_the_error_shape(make_server: ServerFactory) -> None:
    app = await make_server(http={"max_body_bytes": 2048}, chat={"max_message_bytes": 100})
    async with http_client(app) as client:
        await register(client, "alice")
        auth = basic("alice")
        error_of(await client.post("/send/lobby/alice", content=b"", auth=auth), 422)
        error_of(await client.post("/send/lobby/alice", content=b"  \t ", auth=auth), 422)
        error_of(await client.post("/send/lobby/alice", content=b"\xff\xfe", auth=auth), 422)
        error_of(await client.post("/send/lobby/alice", json={"txt": "x"}, auth=auth), 422)
        error_of(await client.post("/send/lobby/alice", json=["x"], auth=auth), 422)
        r = await client.post(
            "/send/lobby/alice",
            content=b"{not json",
            headers={"content-type": "application/json"},
            auth=auth,
        )
        error_of(r, 422, "invalid_input")
        # over the message limit, under the body limit: the core says 413
        error_of(
            await client.post("/send/lobby/alice", content="x" * 101, auth=auth), 413, "too_large"
        )
        # over the body limit, announced and streamed (chunked, no Content-Length)
        error_of(
            await client.post("/send/lobby/alice", content="x" * 3000, auth=auth), 413, "too_large"
        )

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(100):
                yield b"y" * 1000

        error_of(
            await client.post("/send/lobby/alice", content=chunks(), auth=auth), 413, "too_large"
        )
        error_of(
            await client.post("/send/bad!room/alice", content="hi", auth=auth), 422, "invalid_input"
        )
        # control characters cannot reach a terminal
        r = await client.post("/send/lobby/alice", content="a\x1b[2Jb", auth=auth)
        assert r.status_code == 201 and "\x1b" not in r.json()["text"]


async def test_waiting_requests_are_bounded(make_server: ServerFactory) -> None:
    app = await make_server(limits={"max_long_polls": 1})
    hub = app.core.subscriptions  # type: ignore[union-attr]
    async with http_client(app) as client:
        await register(client, "alice", "bob")
        waiting = asyncio.create_task(receive(client, "lobby", "bob", wait=30))
        await eventually(lambda: len(hub.listeners("lobby")) == 1)
        r = await client.get("/receive/lobby/alice", params={"wait": 30}, auth=basic("alice"))
        error_of(r, 429, "rate_limited")
        assert r.headers["retry-after"] == "1"
        # without waiting there is no bound
        assert await receive(client, "lobby", "alice") == []
        await send(client, "lobby", "alice", "done")
        assert await waiting == ["done"]


async def test_shutdown_answers_waiting_requests(make_server: ServerFactory) -> None:
    app = await make_server()
    hub = app.core.subscriptions  # type: ignore[union-attr]
    async with http_client(app) as client:
        await register(client, "bob")
        waiting = asyncio.create_task(receive(client, "lobby", "bob", wait=30))
        await eventually(lambda: len(hub.listeners("lobby")) == 1)
        await app.stop()
        assert await waiting == []
