"""The /api/v1 REST API over real HTTP: accounts and tokens, rooms, messages, pages, read
markers, private messages, ignore lists, and the one error shape."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import (
    PASSWORD,
    basic,
    bearer,
    change_password,
    error_of,
    http_client,
    login,
    register,
    texts,
)
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.tokens import token_hash


async def post_texts(client: httpx.AsyncClient, user: str, room: str, *items: str) -> list[int]:
    ids = []
    for text in items:
        r = await client.post(
            f"/api/v1/rooms/{room}/messages", json={"text": text}, auth=basic(user)
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


async def join(client: httpx.AsyncClient, user: str, room: str) -> None:
    r = await client.put(f"/api/v1/rooms/{room}/members/{user}", auth=basic(user))
    assert r.status_code == 200, r.text


async def test_register_log_in_me_log_out(server: App, client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/users", json={"name": "Dave", "password": PASSWORD})
    assert r.status_code == 201 and r.json()["name"] == "Dave"
    error_of(
        await client.post("/api/v1/users", json={"name": "dave", "password": PASSWORD}),
        409,
        "conflict",
    )
    error_of(
        await client.post("/api/v1/users", json={"name": "no way", "password": PASSWORD}),
        422,
        "invalid_input",
    )
    error_of(
        await client.post("/api/v1/users", json={"name": "eve", "password": "abc"}),
        422,
        "invalid_input",
    )
    error_of(await client.post("/api/v1/users", json={"name": "eve"}), 422, "invalid_input")

    r = await client.post("/api/v1/sessions", json={"name": "dave", "password": "wrong-pw"})
    error_of(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == 'Bearer realm="torbit"'
    r = await client.post("/api/v1/sessions", json={"name": "DAVE", "password": PASSWORD})
    assert r.status_code == 201
    session = r.json()
    assert session["token_type"] == "bearer" and session["user"] == "Dave"
    token = session["token"]
    assert datetime.fromisoformat(session["expires_at"]) > datetime.now(UTC)
    # only a hash of the token is stored
    store = server.core.store  # type: ignore[union-attr]
    assert await store.token_user(token_hash(token), datetime.now(UTC)) == "dave"
    assert await store.token_user(token, datetime.now(UTC)) is None

    me = await client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["name"] == "Dave"
    assert (await client.get("/api/v1/me", auth=basic("dave"))).json()["name"] == "Dave"
    r = await client.get("/api/v1/me")
    error_of(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == 'Bearer realm="torbit"'

    assert (
        await client.delete("/api/v1/sessions/current", headers=bearer(token))
    ).status_code == 204
    error_of(await client.get("/api/v1/me", headers=bearer(token)), 401, "unauthenticated")
    error_of(await client.delete("/api/v1/sessions/current", headers=bearer(token)), 401)
    error_of(await client.delete("/api/v1/sessions/current", auth=basic("dave")), 404)


async def test_closed_registration_is_403(make_server: ServerFactory) -> None:
    app = await make_server(chat={"registration": "closed"})
    async with http_client(app) as client:
        r = await client.post("/api/v1/users", json={"name": "alice", "password": PASSWORD})
        assert "closed" in error_of(r, 403, "forbidden")


async def test_the_server_says_whether_registration_is_open(make_server: ServerFactory) -> None:
    for setting in ("closed", "open"):
        app = await make_server(chat={"registration": setting})
        async with http_client(app) as client:
            r = await client.get("/api/v1/server")  # no login needed: the login form asks
            assert r.status_code == 200 and r.json() == {"registration": setting}


async def test_tokens_expire(make_server: ServerFactory) -> None:
    app = await make_server(http={"token_ttl_hours": 1e-5})  # 36 ms
    async with http_client(app) as client:
        await register(client, "alice")
        token = await login(client, "alice")
        await asyncio.sleep(0.1)
        assert "expired" in error_of(await client.get("/api/v1/me", headers=bearer(token)), 401)


async def test_password_change_ends_cached_basic_auth_and_tokens(
    client: httpx.AsyncClient,
) -> None:
    token = await login(client, "alice")
    assert (await client.get("/api/v1/me", auth=basic("alice"))).status_code == 200  # cached
    r = await change_password(client, "new-secret", current="nope-nope", auth=basic("alice"))
    error_of(r, 401)
    r = await change_password(client, "new-secret", headers=bearer(token))
    assert r.status_code == 204
    error_of(await client.get("/api/v1/me", auth=basic("alice")), 401)
    error_of(await client.get("/api/v1/me", headers=bearer(token)), 401)
    assert (await client.get("/api/v1/me", auth=basic("alice", "new-secret"))).status_code == 200


async def test_rooms_join_leave_members(client: httpx.AsyncClient) -> None:
    error_of(await client.get("/api/v1/rooms/nowhere", auth=basic("alice")), 404, "not_found")
    error_of(await client.get("/api/v1/rooms/nowhere/members", auth=basic("alice")), 404)
    r = await client.put("/api/v1/rooms/Den/members/alice", auth=basic("alice"))
    assert r.status_code == 200
    room = r.json()
    assert (room["name"], room["members"], room["owner"]) == ("Den", 1, "alice")
    await join(client, "bob", "den")
    await join(client, "bob", "den")  # idempotent
    error_of(await client.put("/api/v1/rooms/den/members/carol", auth=basic("bob")), 403)
    members = await client.get("/api/v1/rooms/DEN/members", auth=basic("carol"))
    assert members.json() == {  # HTTP only: nobody in
        "members": ["alice", "bob"],
        "voiced": [],
        "online": [],
        "away": {},
        "live": True,
    }
    rooms = (await client.get("/api/v1/rooms", auth=basic("carol"))).json()["rooms"]
    assert [(r["name"], r["members"]) for r in rooms] == [("Den", 2)]
    assert (await client.get("/api/v1/rooms/den", auth=basic("carol"))).json()["members"] == 2

    r = await client.delete("/api/v1/rooms/den/members/bob", auth=basic("bob"))
    assert r.status_code == 204
    error_of(await client.delete("/api/v1/rooms/den/members/bob", auth=basic("bob")), 409)
    error_of(await client.delete("/api/v1/rooms/den/members/alice", auth=basic("bob")), 403)
    error_of(await client.get("/api/v1/rooms/den/messages", auth=basic("bob")), 403, "forbidden")
    r = await client.post("/api/v1/rooms/den/messages", json={"text": "hi"}, auth=basic("bob"))
    error_of(r, 403, "forbidden")
    r = await client.post("/api/v1/rooms/nowhere/messages", json={"text": "x"}, auth=basic("bob"))
    error_of(r, 404, "not_found")


async def test_history_pages_backward_and_forward(client: httpx.AsyncClient) -> None:
    await join(client, "alice", "den")
    ids = await post_texts(client, "alice", "den", *(f"m{i}" for i in range(7)))
    assert ids == sorted(ids)

    async def history(**params: int) -> dict[str, Any]:
        r = await client.get("/api/v1/rooms/den/messages", params=params, auth=basic("alice"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body, dict)
        return body

    page = await history(limit=3)
    assert texts(page) == ["m4", "m5", "m6"] and page["next_before"] == ids[4]
    page = await history(limit=3, before=page["next_before"])
    assert texts(page) == ["m1", "m2", "m3"] and page["next_before"] == ids[1]
    page = await history(limit=3, before=page["next_before"])
    assert texts(page) == ["m0"] and page["next_before"] is None

    page = await history(limit=4, after=0)
    assert texts(page) == ["m0", "m1", "m2", "m3"] and page["next_after"] == ids[3]
    page = await history(limit=4, after=page["next_after"])
    assert texts(page) == ["m4", "m5", "m6"] and page["next_after"] is None
    assert texts(await history()) == [f"m{i}" for i in range(7)]
    for bad in ({"limit": 0}, {"limit": 1001}, {"before": -1}, {"after": "x"}, {"after": 2**63}):
        r = await client.get("/api/v1/rooms/den/messages", params=bad, auth=basic("alice"))
        error_of(r, 422, "invalid_input")


async def test_history_leaves_out_ignored_senders(client: httpx.AsyncClient) -> None:
    for user in ("alice", "bob", "carol"):
        await join(client, user, "den")
    await post_texts(client, "carol", "den", "c1")
    await post_texts(client, "alice", "den", "a1")
    await post_texts(client, "carol", "den", "c2")
    assert (await client.put("/api/v1/me/ignores/Carol", auth=basic("bob"))).status_code == 204
    r = await client.get("/api/v1/rooms/den/messages", auth=basic("bob"))
    assert texts(r.json()) == ["a1"]
    assert (await client.get("/api/v1/me/ignores", auth=basic("bob"))).json() == {
        "users": ["carol"]
    }
    assert (await client.delete("/api/v1/me/ignores/carol", auth=basic("bob"))).status_code == 204
    r = await client.get("/api/v1/rooms/den/messages", auth=basic("bob"))
    assert texts(r.json()) == ["c1", "a1", "c2"]
    error_of(await client.delete("/api/v1/me/ignores/carol", auth=basic("bob")), 404)
    error_of(await client.put("/api/v1/me/ignores/nobody", auth=basic("bob")), 404)
    error_of(await client.put("/api/v1/me/ignores/bob", auth=basic("bob")), 422)


async def test_read_marker_shares_the_receive_cursor(client: httpx.AsyncClient) -> None:
    await join(client, "bob", "den")
    ids = await post_texts(client, "bob", "den", "a", "b", "c")
    marker = (await client.get("/api/v1/rooms/den/read-marker", auth=basic("bob"))).json()
    assert marker == {"last_read_id": None, "unread": 3}
    r = await client.get("/receive/den/bob", params={"limit": 1}, auth=basic("bob"))
    assert texts(r.json()) == ["a"]
    marker = (await client.get("/api/v1/rooms/den/read-marker", auth=basic("bob"))).json()
    assert marker == {"last_read_id": ids[0], "unread": 2}
    r = await client.put(
        "/api/v1/rooms/den/read-marker", json={"last_read_id": ids[1]}, auth=basic("bob")
    )
    assert r.json() == {"last_read_id": ids[1], "unread": 1}
    r = await client.put(
        "/api/v1/rooms/den/read-marker", json={"last_read_id": ids[0]}, auth=basic("bob")
    )
    assert r.json() == {"last_read_id": ids[1], "unread": 1}  # never backward
    r = await client.put(
        "/api/v1/rooms/den/read-marker", json={"last_read_id": ids[2] + 1}, auth=basic("bob")
    )
    error_of(r, 422)
    assert texts((await client.get("/receive/den/bob", auth=basic("bob"))).json()) == ["c"]
    error_of(await client.get("/api/v1/rooms/den/read-marker", auth=basic("carol")), 403)


async def test_private_messages(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/private-messages", json={"to": "BOB", "text": "psst"}, auth=basic("alice")
    )
    assert r.status_code == 201, r.text
    sent = r.json()
    assert (sent["room"], sent["kind"], sent["recipient"]) == (None, "private", "bob")
    for user in ("alice", "bob"):
        r = await client.get("/api/v1/private-messages", auth=basic(user))
        (m,) = r.json()["messages"]
        assert (m["sender"], m["recipient"], m["text"]) == ("alice", "bob", "psst")
    assert (await client.get("/api/v1/private-messages", auth=basic("carol"))).json()[
        "messages"
    ] == []
    r = await client.post(
        "/api/v1/private-messages", json={"to": "nobody", "text": "x"}, auth=basic("alice")
    )
    error_of(r, 404, "not_found")
    await client.post(
        "/api/v1/private-messages", json={"to": "bob", "text": "hi"}, auth=basic("carol")
    )
    await client.put("/api/v1/me/ignores/alice", auth=basic("bob"))
    r = await client.get("/api/v1/private-messages", auth=basic("bob"))
    assert texts(r.json()) == ["hi"]  # ignoring hides a sender's past messages too


async def test_every_error_has_the_one_shape(make_server: ServerFactory) -> None:
    app = await make_server(http={"max_body_bytes": 1024})
    async with http_client(app) as client:
        await register(client, "alice")
        auth = basic("alice")
        error_of(await client.get("/no/such/route"), 404, "not_found")
        error_of(await client.get("/api/v1/nothing", auth=auth), 404, "not_found")
        error_of(await client.patch("/api/v1/me", auth=auth), 405, "method_not_allowed")
        r = await client.post(
            "/api/v1/users", content=b'{"name": ', headers={"content-type": "application/json"}
        )
        error_of(r, 422, "invalid_input")
        r = await client.post("/api/v1/users", json={"name": "x" * 2000, "password": "y"})
        error_of(r, 413, "too_large")
        r = await client.post(
            "/api/v1/private-messages",
            auth=auth,
            content=b'{"to": "alice", "text": "\\ud800"}',
            headers={"content-type": "application/json"},
        )
        error_of(r, 422, "invalid_input")
        error_of(await client.get("/api/v1/rooms/bad!name", auth=auth), 422, "invalid_input")
        error_of(await client.get("/api/v1/rooms", auth=basic("alice", "wrong")), 401)


async def test_a_members_list_says_whether_joins_and_leaves_are_told(
    make_server: ServerFactory,
) -> None:
    """Above `chat.presence_notices_max` listeners no join or leave notice is sent: the list
    says so (`live`: false), and the web page then reads it again to follow who is online
    (on main the page could not tell, and its online dots stayed as first read)."""
    app = await make_server(chat={"presence_notices_max": 1})
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
        await register(client, "carol")
        telnets = []
        try:
            for name in ("alice", "bob"):
                assert app.telnet_port is not None
                t = await TelnetClient.connect(app.telnet_port)
                telnets.append(t)
                await t.login(name)  # in #lobby
                r = await client.get("/api/v1/rooms/lobby/members", auth=basic("carol"))
                assert r.json()["live"] is (name == "alice"), r.text  # 1 listener, then 2
        finally:
            for t in telnets:
                await t.close()
