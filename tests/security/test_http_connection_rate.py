"""New HTTP connections per address (`limits.connection_rate`, `connection_burst`), the
bucket the line doors take from (tests/security/test_connection_rate.py). Before, HTTP
counted open connections only: a reconnect storm at the HTTP port cost a whole request each,
however fast it came. Now each new connection takes a token of its address's bucket, or,
through a trusted proxy, of the client its first request names; past it the request is
answered 429 (Retry-After) and the connection closed. Counted: which connections were
refused, never how fast."""

from __future__ import annotations

import json

from tests.conftest import ServerFactory
from tests.helpers.telnet_client import TelnetClient
from tests.security.http_attack import REMOTE, open_from, read_response
from torbit.app import App

RATE = 0.1  # a token every 10 s: none comes back while the connections below are made
BURST = 4


async def one_request(
    app: App, address: str, headers: str = "", requests: int = 1
) -> list[tuple[int, bytes]]:
    """A new connection from `address` carrying `requests` GET /readyz, one after another
    (kept alive); each answer's status and head, up to the connection's close."""
    reader, writer = await open_from(app, address)
    answers = []
    try:
        for i in range(requests):
            last = i == requests - 1
            writer.write(
                b"GET /readyz HTTP/1.1\r\nhost: localhost\r\n"
                + headers.encode()
                + (b"connection: close\r\n" if last else b"")
                + b"\r\n"
            )
            status, head = await read_response(reader)
            if status == 0:
                break
            answers.append((status, head))
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            if status != 200:
                answers[-1] = (status, head + body)
                break
    finally:
        writer.close()
    return answers


async def test_new_http_connections_past_the_burst_get_429(make_server: ServerFactory) -> None:
    app = await make_server(limits={"connection_rate": RATE, "connection_burst": BURST})
    # one kept-alive connection with 10 requests: one token
    assert [s for s, _ in await one_request(app, REMOTE, requests=10)] == [200] * 10
    statuses = []
    for _ in range(BURST + 2):
        (status, answer), *_ = await one_request(app, REMOTE)
        statuses.append(status)
    assert statuses == [200] * (BURST - 1) + [429] * 3, statuses
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"retry-after: 1" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "rate_limited"
    assert "too many new connections from your address (limit 0.1 a second)" in error["message"]
    # another address has a bucket of its own
    (status, _), *_ = await one_request(app, "127.0.0.3")
    assert status == 200


async def test_the_bucket_is_shared_with_the_line_doors(make_server: ServerFactory) -> None:
    app = await make_server(limits={"connection_rate": RATE, "connection_burst": BURST})
    assert app.telnet_port is not None
    for _ in range(BURST):  # the burst spent on telnet, from 127.0.0.1
        telnet = await TelnetClient.connect(app.telnet_port)
        await telnet.read_until("Name: ")
        await telnet.close()
    (status, _), *_ = await one_request(app, "127.0.0.1")
    assert status == 429


async def test_through_a_trusted_proxy_each_client_has_its_bucket(
    make_server: ServerFactory,
) -> None:
    """The proxy (127.0.0.1) takes no token of its own: each connection takes one of the
    client its first request names; a kept-alive proxy connection, one."""
    app = await make_server(
        http={"trusted_proxies": ["127.0.0.1/32"]},
        limits={"connection_rate": RATE, "connection_burst": BURST},
    )
    alice = "x-forwarded-for: 203.0.113.5\r\n"
    bob = "x-forwarded-for: 203.0.113.6\r\n"
    assert [s for s, _ in await one_request(app, "127.0.0.1", alice, requests=10)] == [200] * 10
    statuses = [(await one_request(app, "127.0.0.1", alice))[0][0] for _ in range(BURST)]
    assert statuses == [200] * (BURST - 1) + [429]
    statuses = [(await one_request(app, "127.0.0.1", bob))[0][0] for _ in range(BURST)]
    assert statuses == [200] * BURST
    # a new proxy connection whose first request is alice's: her bucket is empty
    answers = await one_request(app, "127.0.0.1", alice, requests=2)
    assert [s for s, _ in answers] == [429]
