"""Issue 10, item 7: HTTP had no per-address connection limit, and a dribbled body was held
forever (400 slow bodies still open after 70 s). Now every HTTP connection, WebSockets
included, counts in `limits.connections_per_ip` (100) with telnet's, and a body must arrive
within `http.body_timeout` (30 s; 408 and close).

Issue 10, item 12: X-Forwarded-For was believed from 127.0.0.1, so one address opened 150
WebSockets past the limit of 100 by sending a different made-up address in each. Now
forwarding headers are believed only from `http.trusted_proxies` (none by default)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, bearer, error_of, http_client, login, ws_url
from tests.helpers.telnet_client import TelnetClient
from tests.security.http_attack import ATTACKER, REMOTE, client_from, open_from, read_response
from torbit.app import App

BODY = 1000  # announced, then dribbled a byte at a time


@pytest.fixture
async def sockets() -> AsyncIterator[list[asyncio.StreamWriter]]:
    writers: list[asyncio.StreamWriter] = []
    yield writers
    for w in writers:
        w.close()
    for w in writers:
        with contextlib.suppress(ConnectionError):
            await w.wait_closed()


async def dribble(app: App, writers: list[asyncio.StreamWriter]) -> tuple[int, int]:
    """A login whose body comes a byte every 0.2 s (no account needed: the body is read
    before anything is answered). The answer's status (0: none) and how many body bytes
    were sent by then; returns only once the server has closed the connection."""
    reader, writer = await open_from(app, ATTACKER)
    writers.append(writer)
    writer.write(
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % BODY
    )
    answer = asyncio.create_task(read_response(reader, timeout=120))
    sent = 0
    with contextlib.suppress(ConnectionError):
        # a transport the server's reset closed raises RuntimeError under uvloop (ci117)
        while sent < BODY and not answer.done() and not writer.is_closing():
            writer.write(b"x")
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.2)
    status, _ = await answer
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(reader.read(), 30)  # to the end: the server hangs up
    return status, sent


async def register_alice(app: App) -> None:
    async with http_client(app) as c:
        r = await c.post("/api/v1/users", json={"name": "alice", "password": PASSWORD})
        assert r.status_code == 201


@pytest.mark.slow
async def test_dribbled_bodies_are_cut_off(
    make_server: ServerFactory, sockets: list[asyncio.StreamWriter]
) -> None:
    # the per-address limit lifted: all 400 slow bodies get in, and the deadline alone acts
    app = await make_server(http={"body_timeout": 2}, limits={"connections_per_ip": 0})
    results = await asyncio.gather(*(dribble(app, sockets) for _ in range(400)))
    assert Counter(status for status, _ in results) == {408: 400}
    assert max(sent for _, sent in results) < BODY  # cut off while still dribbling
    async with http_client(app) as c:
        assert (await c.get("/healthz")).status_code == 200


@pytest.mark.slow
async def test_one_address_holds_at_most_100_http_connections(
    make_server: ServerFactory, sockets: list[asyncio.StreamWriter]
) -> None:
    app = await make_server(limits={"connections_per_ip": 100})
    # 400 slow bodies from one address: 100 are let in (and wait for their bodies), 300 are
    # answered 503 at once
    tasks = [asyncio.create_task(dribble(app, sockets)) for _ in range(400)]
    async with asyncio.timeout(60):
        while sum(t.done() for t in tasks) < 300:
            await asyncio.sleep(0.1)
    refused = [t.result() for t in tasks if t.done()]
    assert Counter(status for status, _ in refused) == {503: 300}
    # the budget is shared with telnet: a telnet connection from that address is turned away
    assert app.telnet_port is not None
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.expect("too many connections from your address")
    await telnet.close()
    # another address is served
    async with client_from(app, REMOTE) as remote:
        assert (await remote.get("/healthz")).status_code == 200
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def websockets_from(
    app: App, token: str, n: int, spoof: bool
) -> tuple[list[ClientConnection], Counter[int]]:
    """Open n WebSockets from 127.0.0.1, each claiming another address if `spoof`."""
    opened: list[ClientConnection] = []
    refused: Counter[int] = Counter()
    for i in range(n):
        headers = bearer(token)
        if spoof:
            headers["X-Forwarded-For"] = f"10.{i // 250}.{i % 250}.7"
        try:
            opened.append(await connect(ws_url(app), additional_headers=headers))
        except InvalidStatus as e:
            refused[e.response.status_code] += 1
    return opened, refused


async def test_spoofed_forwarded_for_does_not_lift_the_limit(make_server: ServerFactory) -> None:
    app = await make_server(limits={"connections_per_ip": 100})
    await register_alice(app)
    async with http_client(app) as c:
        token = await login(c, "alice")
    opened, refused = await websockets_from(app, token, 150, spoof=True)
    try:
        assert len(opened) == 100 and refused == {503: 50}
        for ws in opened[:3]:
            assert json.loads(await ws.recv())["text"] == "logged in as alice"
    finally:
        for ws in opened:
            await ws.close()


async def test_spoofed_forwarded_for_does_not_dodge_the_login_back_off(
    make_server: ServerFactory,
) -> None:
    """Failed logins back off per address: guesses that each claim another address (and
    try another name) still add up on the real one, and the back-off reaches the next try."""
    app = await make_server()
    await register_alice(app)
    async with http_client(app) as c:
        for i in range(50):
            spoof = {"X-Forwarded-For": f"10.0.0.{i}", "Forwarded": f"for=10.1.0.{i}"}
            r = await c.post(
                "/api/v1/sessions", json={"name": f"guess{i}", "password": "x" * 8}, headers=spoof
            )
            if r.status_code == 429:
                break
            assert r.status_code == 401
        else:
            pytest.fail("50 failed logins from one address never backed off")
        r = await c.post(
            "/api/v1/sessions",
            json={"name": "alice", "password": PASSWORD},
            headers={"X-Forwarded-For": "10.0.0.200"},
        )
        error_of(r, 429, "rate_limited")


async def test_a_trusted_proxy_is_believed_and_no_one_else(
    make_server: ServerFactory,
) -> None:
    """Behind a proxy on 127.0.0.1 each client has its own budget, taken from the address the
    proxy appended; 127.0.0.2 is not a proxy, and its header is ignored."""
    app = await make_server(
        http={"trusted_proxies": ["127.0.0.1/32"]}, limits={"connections_per_ip": 2}
    )
    async with client_from(app, REMOTE) as c:
        assert (
            await c.post("/api/v1/users", json={"name": "alice", "password": PASSWORD})
        ).status_code == 201
        token = await login(c, "alice")

    async def through_proxy(client: str, claimed: str = "") -> ClientConnection:
        chain = f"{claimed}, {client}" if claimed else client
        return await connect(
            ws_url(app), additional_headers={**bearer(token), "X-Forwarded-For": chain}
        )

    held = [await through_proxy("203.0.113.5"), await through_proxy("203.0.113.5", "10.9.9.9")]
    with pytest.raises(InvalidStatus) as third:  # what the client claims to the left is moot
        await through_proxy("203.0.113.5", "10.9.9.8")
    assert third.value.response.status_code == 503
    held.append(await through_proxy("203.0.113.6"))  # another client of the proxy
    # a client that is not a proxy: counted by its own address, whatever it claims
    held.append(
        await connect(
            ws_url(app),
            additional_headers={**bearer(token), "X-Forwarded-For": "203.0.113.7"},
            local_addr=(REMOTE, 0),
        )
    )
    held.append(
        await connect(
            ws_url(app),
            additional_headers={**bearer(token), "X-Forwarded-For": "203.0.113.8"},
            local_addr=(REMOTE, 0),
        )
    )
    with pytest.raises(InvalidStatus):
        await connect(
            ws_url(app),
            additional_headers={**bearer(token), "X-Forwarded-For": "203.0.113.9"},
            local_addr=(REMOTE, 0),
        )
    for ws in held:
        await ws.close()
