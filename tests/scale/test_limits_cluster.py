"""Limits on two nodes of one cluster (`postgresql + kafka`): API tokens and whole-server
walks had been tested on one node only. A token revoked (logout) or expired on one node is
refused on the other, and a WebSocket opened on the other node with it is closed at its
expiry; `limits.walk_rate` is per node by design (docs/security.md): a walk costs the event
loop of the node that runs it, and each node's bucket guards its own loop."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.http import bearer, login, register
from tests.scale.conftest import NodeFactory
from tests.security.conftest import closed, http_from, telnet_login, ws_from
from torbit.frontends.http.ws_session import EXPIRED, REVOKED

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

TTL_SECONDS = 4.0  # the logins and the handshakes happen well within it
GUARD = 30.0  # seconds: hang guards only, nothing here measures


async def test_a_token_logged_out_on_one_node_is_refused_on_the_other(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a"), await make_node("b")
    async with http_from(a) as client:
        await register(client, "alice")
        token = await login(client, "alice")
    async with http_from(b) as client:  # b has seen it: remembered there, if anywhere
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    async with http_from(a) as client:
        r = await client.delete("/api/v1/sessions/current", headers=bearer(token))
        assert r.status_code == 204
    async with http_from(b) as client:
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401
    ws = await ws_from(b, bearer(token))
    code, _, frames = await closed(ws, timeout=GUARD)
    assert not any(str(f.get("text", "")).startswith("logged in") for f in frames), frames
    assert code in (1008, REVOKED), (code, frames)


async def test_a_token_expires_on_the_other_node_too(make_node: NodeFactory) -> None:
    ttl = {"token_ttl_hours": TTL_SECONDS / 3600}
    a, b = await make_node("a", http=ttl), await make_node("b", http=ttl)
    async with http_from(a) as client:
        await register(client, "alice")
        token = await login(client, "alice")
    on_b = await ws_from(b, bearer(token), logged_in=True)
    code, reason, frames = await closed(on_b, timeout=GUARD)  # at the token's expiry
    assert (code, reason) == (REVOKED, EXPIRED)
    assert frames[-1]["text"] == EXPIRED
    async with http_from(b) as client:
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401
    late = await ws_from(b, bearer(token))
    code, _, frames = await closed(late, timeout=GUARD)
    assert not any(str(f.get("text", "")).startswith("logged in") for f in frames), frames


async def test_walk_rate_is_a_bucket_per_node(make_node: NodeFactory) -> None:
    slow = {"walk_rate": 0.001, "walk_burst": 2}  # no refill within the test
    a, b = await make_node("a", limits=slow), await make_node("b", limits=slow)
    async with http_from(a) as client:
        await register(client, "alice")
    on_a, on_b = await telnet_login(a, "alice"), await telnet_login(b, "alice")
    try:
        for _ in range(2):
            on_a.send("/list")
            await on_a.expect(r"public room")
        on_a.send("/list")
        await on_a.expect(r"slow down")  # a's bucket is spent
        for _ in range(2):  # b's is whole: per node, as every action's bucket
            on_b.send("/list")
            await on_b.expect(r"public room")
        on_b.send("/list")
        await on_b.expect(r"slow down")
    finally:
        await asyncio.gather(on_a.close(), on_b.close())
