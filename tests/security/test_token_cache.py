"""What a node's cache of live bearer tokens (frontends/http/tokencache.py) does and does not
take on trust. A token deleted in the store with no revocation told to this node (as on a
node another node's logout event has not reached yet) stays usable for HTTP requests here
until the event arrives or the entry's 30 s run out, as a remembered Basic password does
(docs/security.md); a WebSocket's handshake reads the token in the store whatever the cache
holds, so such a socket is refused at once, as before the cache. Once the revocation is
applied, HTTP refuses the token too."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from tests.helpers.http import bearer, http_client, login, register
from tests.security.conftest import closed, ws_from
from torbit.app import App
from torbit.core.models import Revocation
from torbit.core.tokens import token_hash


async def test_a_handshake_reads_its_token_where_a_request_may_take_the_cache(
    server: App,
) -> None:
    assert server.core is not None
    async with http_client(server) as client:
        await register(client, "alice")
        token = await login(client, "alice")
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        # deleted in the store, the revocation not (yet) applied on this node
        assert await server.core.store.delete_token(token_hash(token))
        r = await client.get("/api/v1/me", headers=bearer(token))
        assert r.status_code == 200  # remembered (main: 401, the store read each time)
        ws = await ws_from(server, bearer(token))
        code, _, frames = await closed(ws)
        assert code == 1008 and frames[0]["code"] == "unauthenticated", (code, frames)
        # the revocation arrives: through the store's feed, as a process that is not a node
        # tells it (the node's next poll, 0.5 s); another node's event is applied the same way
        revocation = Revocation("alice", "you logged out", token=token_hash(token))
        await server.core.store.add_revocation(revocation, datetime.now(UTC))
        async with asyncio.timeout(10):
            while (r := await client.get("/api/v1/me", headers=bearer(token))).status_code == 200:
                await asyncio.sleep(0.05)
        assert r.status_code == 401, json.dumps(r.json())
