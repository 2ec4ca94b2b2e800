"""Issue 10, item 4: a re-registered name inherited the deleted account: its private messages
(both ways: the deleted user's still-open WebSocket received private messages sent to the new
holder of the name) and the ownership of its rooms.

Now deleting an account closes its sessions first, then removes its tokens, memberships,
ignores (both ways), cursors and private messages; rooms it owned are deleted when no one else
is in them, else become server-owned. Whoever registers the name next starts clean. Deletion
runs here through the same core call as `torbit user del` (tests/security/test_revocation.py
drives the CLI itself against a running server)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.http import bearer, login, register
from tests.security.conftest import basic_header, closed, http_from, telnet_login, ws_from
from torbit.app import App
from torbit.frontends.http.ws_session import REVOKED


async def test_the_next_holder_of_a_name_inherits_nothing(make_server: ServerFactory) -> None:
    app = await make_server()
    assert app.core is not None
    async with http_from(app) as client:
        await register(client, "alice", "bob", "carol")
        alice_token = await login(client, "alice")
        for room in ("solo", "club"):
            r = await client.post("/api/v1/rooms", json={"name": room}, headers=bearer(alice_token))
            assert r.status_code == 201, r.text
        assert (
            await client.put("/api/v1/rooms/club/members/bob", headers=basic_header("bob"))
        ).status_code == 200
        await client.post(
            "/api/v1/rooms/solo/messages", json={"text": "my diary"}, headers=basic_header("alice")
        )
        for sender, to, text in [
            ("bob", "alice", "old secret for alice"),
            ("alice", "bob", "old reply to bob"),
        ]:
            r = await client.post(
                "/api/v1/private-messages",
                json={"to": to, "text": text},
                headers=basic_header(sender),
            )
            assert r.status_code == 201, r.text
        await client.put("/api/v1/me/ignores/alice", headers=basic_header("bob"))
        await client.put("/api/v1/me/ignores/carol", headers=basic_header("alice"))
        await client.get("/receive/lobby/alice", headers=basic_header("alice"))

    old_socket = await ws_from(app, basic_header("alice"), logged_in=True)
    bob_telnet = await telnet_login(app, "bob")  # back in #club, joined last (comeback.py)
    bob_telnet.send("/join lobby")
    await bob_telnet.expect(r"^\* you are in #lobby")

    deletion = await app.core.accounts.delete("alice")
    assert (deletion.rooms_deleted, deletion.rooms_kept) == (("solo",), ("club",))
    code, reason, _ = await closed(old_socket)
    assert (code, reason) == (REVOKED, "your account was deleted: you are logged out")
    store = app.core.store
    assert await store.get_cursor("alice", "lobby") is None
    assert await store.list_ignores("bob") == []

    async with http_from(app) as client:
        assert (await client.get("/api/v1/me", headers=bearer(alice_token))).status_code == 401
        await register(client, "Alice", password="new-holder-pw")
        new = basic_header("Alice", "new-holder-pw")
        new_socket = await ws_from(app, new)
        # her inbox starts empty
        r = await client.get("/api/v1/private-messages", headers=new)
        assert r.status_code == 200, r.text
        assert r.json()["messages"] == []
        # bob's private message to the name reaches the new holder only
        r = await client.post(
            "/api/v1/private-messages",
            json={"to": "alice", "text": "hello new alice"},
            headers=basic_header("bob"),
        )
        assert r.status_code == 201
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1].get("type") != "message":
            frames.append(json.loads(await new_socket.recv()))
        assert frames[-1]["message"]["text"] == "hello new alice"
        # no room of the old account is hers
        assert (await client.get("/api/v1/rooms/solo", headers=new)).status_code == 404
        r = await client.get("/api/v1/rooms/club", headers=new)
        assert r.status_code == 200 and r.json()["owner"] is None
        r = await client.delete("/api/v1/rooms/club/members/bob", headers=new)
        assert r.status_code in (403, 404), r.text  # cannot kick anyone there
        # bob no longer ignores the name; she ignores no one
        assert (await client.get("/api/v1/me/ignores", headers=new)).json()["users"] == []
        r = await client.post("/send/lobby/Alice", content="hi, I am new", headers=new)
        assert r.status_code == 201, r.text
    await bob_telnet.expect("<Alice> hi, I am new")
    await new_socket.close()
    await bob_telnet.close()


async def test_the_old_socket_never_sees_the_new_holders_messages(
    make_server: ServerFactory,
) -> None:
    """The report's case: the deleted user's open WebSocket received private messages sent
    to the new holder of the name."""
    app = await make_server()
    assert app.core is not None
    async with http_from(app) as client:
        await register(client, "alice", "bob")
    old_socket = await ws_from(app, basic_header("alice"), logged_in=True)
    await app.core.accounts.delete("alice")
    async with http_from(app) as client:
        await register(client, "alice", password="other-pw")
        r = await client.post(
            "/api/v1/private-messages",
            json={"to": "alice", "text": "for the new one"},
            headers=basic_header("bob"),
        )
        assert r.status_code == 201
    code, _, frames = await closed(old_socket)
    assert code == REVOKED
    assert not any(f.get("type") == "message" for f in frames), frames


async def test_a_deleted_owners_rooms_are_handed_to_no_one(server: App) -> None:
    assert server.core is not None
    async with http_from(server) as client:
        await register(client, "alice", "bob")
        for room in ("empty", "busy"):
            r = await client.post(
                "/api/v1/rooms", json={"name": room}, headers=basic_header("alice")
            )
            assert r.status_code == 201
        await client.put("/api/v1/rooms/busy/members/bob", headers=basic_header("bob"))
    await server.core.accounts.delete("alice")
    assert await server.core.store.get_room("empty") is None
    busy = await server.core.store.get_room("busy")
    assert busy is not None and busy.owner is None
    async with http_from(server) as client:
        await register(client, "alice")
        r = await client.post(
            "/api/v1/rooms", json={"name": "empty"}, headers=basic_header("alice")
        )
        assert r.status_code == 201  # the name of a deleted room is free again
        r = await client.get("/api/v1/rooms/empty/messages", headers=basic_header("alice"))
        assert r.json()["messages"] == []
