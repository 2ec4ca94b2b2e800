"""Issue 10, items 3 and 4 on the scale-out deployment (two nodes, a Kafka-protocol broker,
PostgreSQL or Cassandra): a logout, a password change or a deletion made on one node closes the user's
sessions on the other; a revocation written to the store by another process (the CLI) reaches
both nodes; and the next holder of a deleted name, on either node, inherits nothing."""

from __future__ import annotations

import pytest

from tests.conftest import CHEAP_ARGON2
from tests.helpers.http import bearer, change_password, login, register
from tests.scale.conftest import STORES, NodeFactory
from tests.security.conftest import (
    basic_header,
    closed,
    first_frames,
    http_from,
    telnet_login,
    ws_from,
)
from torbit.app import App
from torbit.backends.registry import open_store
from torbit.core.accounts import Accounts
from torbit.core.hashing import PasswordHashing
from torbit.frontends.http.ws_session import REVOKED

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.parametrize("scale_store", STORES)]


async def two_nodes(make_node: NodeFactory) -> tuple[App, App]:
    a, b = await make_node("a"), await make_node("b")
    async with http_from(a) as client:
        await register(client, "alice", "bob")
    return a, b


async def test_logout_and_password_change_on_one_node_close_sessions_on_the_other(
    make_node: NodeFactory,
) -> None:
    a, b = await two_nodes(make_node)
    async with http_from(a) as client:
        token, other = await login(client, "alice"), await login(client, "alice")
    on_b = await ws_from(b, bearer(token), logged_in=True)
    other_on_b = await ws_from(b, bearer(other), logged_in=True)
    telnet_on_b = await telnet_login(b, "alice")
    async with http_from(a) as client:
        assert (
            await client.delete("/api/v1/sessions/current", headers=bearer(token))
        ).status_code == 204
    code, reason, _ = await closed(on_b)
    assert (code, reason) == (REVOKED, "you logged out: you are logged out")
    async with http_from(b) as client:  # node b forgot the token it had found live
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401
        assert (await client.get("/api/v1/me", headers=bearer(other))).status_code == 200
    async with http_from(a) as client:
        r = await change_password(client, "new-secret", headers=bearer(other))
        assert r.status_code == 204
    code, reason, _ = await closed(other_on_b)
    assert (code, reason) == (REVOKED, "your password was changed: you are logged out")
    await telnet_on_b.expect(r"^! your password was changed: you are logged out")
    await telnet_on_b.close()
    async with http_from(b) as client:  # node b forgot its cached Basic login too
        assert (await client.get("/api/v1/me", headers=basic_header("alice"))).status_code == 401
        assert (await client.get("/api/v1/me", headers=bearer(other))).status_code == 401


async def test_a_socket_with_credentials_remembered_before_a_change_elsewhere_is_refused(
    make_node: NodeFactory,
) -> None:
    """Node b remembers alice's and bob's passwords (a request, a socket: no argon2 for the
    next socket). Alice's changes on node a; bob's from another process (the CLI), and the
    old one is tried on b at once, before b's next poll of the store may have forgotten it:
    refused either way, by the check or by the session's own proof."""
    a, b = await two_nodes(make_node)
    async with http_from(b) as client:
        for name in ("alice", "bob"):
            assert (await client.get("/api/v1/me", headers=basic_header(name))).status_code == 200
    open_on_b = await ws_from(b, basic_header("alice"), logged_in=True)
    async with http_from(a) as client:
        r = await change_password(client, "new-secret", headers=basic_header("alice"))
        assert r.status_code == 204
    code, _, _ = await closed(open_on_b)
    assert code == REVOKED
    old = await ws_from(b, basic_header("alice"))
    frames = await first_frames(old, 2)
    assert [f.get("code") for f in frames] == ["unauthenticated"], frames
    assert old.close_code == 1008
    new = await ws_from(b, basic_header("alice", "new-secret"), logged_in=True)
    await new.close()
    await set_password_elsewhere(a, "bob")
    stale = await ws_from(b, basic_header("bob"))
    frames = await first_frames(stale, 3)
    assert not any(str(f.get("text", "")).startswith("logged in") for f in frames), frames
    assert stale.close_code in (1008, REVOKED), (stale.close_code, frames)


async def test_a_revocation_from_another_process_reaches_every_node(
    make_node: NodeFactory,
) -> None:
    """As `torbit user passwd` does it: through the store, which every node polls."""
    a, b = await two_nodes(make_node)
    sockets = [await ws_from(node, basic_header("alice"), logged_in=True) for node in (a, b)]
    telnets = [await telnet_login(node, "alice") for node in (a, b)]
    await set_password_elsewhere(a, "alice")
    for ws in sockets:
        code, reason, _ = await closed(ws)
        assert (code, reason) == (REVOKED, "your password was changed: you are logged out")
    for t in telnets:
        await t.expect(r"^! your password was changed: you are logged out")
        await t.close()


async def test_the_next_holder_of_a_deleted_name_inherits_nothing_on_any_node(
    make_node: NodeFactory,
) -> None:
    a, b = await two_nodes(make_node)
    async with http_from(a) as client:
        r = await client.post(
            "/api/v1/private-messages",
            headers=basic_header("bob"),
            json={"to": "alice", "text": "old secret"},
        )
        assert r.status_code == 201
    old_on_b = await ws_from(b, basic_header("alice"), logged_in=True)
    assert a.core is not None
    await a.core.accounts.delete("alice")
    async with http_from(b) as client:
        await register(client, "alice", password="new-holder")
        new = basic_header("alice", "new-holder")
        r = await client.get("/api/v1/private-messages", headers=new)
        assert r.json()["messages"] == []  # the broker may keep the old inbox; it is not hers
        r = await client.post(
            "/api/v1/private-messages",
            headers=basic_header("bob"),
            json={"to": "alice", "text": "for the new alice"},
        )
        assert r.status_code == 201
        r = await client.get("/api/v1/private-messages", headers=new)
        assert [m["text"] for m in r.json()["messages"]] == ["for the new alice"]
    code, _, frames = await closed(old_on_b)
    assert code == REVOKED
    assert not any(f.get("type") == "message" for f in frames), frames


async def set_password_elsewhere(node: App, name: str) -> None:
    """Change a password as `torbit user passwd` does: through the store, not a node."""
    from argon2 import PasswordHasher

    store = open_store(node.settings.storage.url)
    await store.open()
    try:
        hasher = PasswordHasher(
            time_cost=CHEAP_ARGON2["argon2_time_cost"],
            memory_cost=CHEAP_ARGON2["argon2_memory_kib"],
            parallelism=CHEAP_ARGON2["argon2_parallelism"],
        )
        cli = Accounts(
            store,
            registration_open=True,
            min_password_length=6,
            hashing=PasswordHashing(hasher, workers=1, queue=1),
        )
        await cli.set_password(name, "changed-elsewhere")
    finally:
        await store.close()
