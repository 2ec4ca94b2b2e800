"""What the HTTP attack tests share: clients that connect from a chosen loopback address.

127.0.0.1 plays the attacker's (or a proxy's) address and 127.0.0.2 another client on the
internet: both are on the loopback interface, and the server, bound to 127.0.0.1, sees each
connection's real source address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.helpers.http import base_url
from torbit.app import App

ATTACKER = "127.0.0.1"
REMOTE = "127.0.0.2"  # "somewhere else": not the server's own host


@asynccontextmanager
async def client_from(
    app: App, address: str, connections: int = 10, **options: object
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose connections come from `address`."""
    transport = httpx.AsyncHTTPTransport(
        local_address=address,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
    async with httpx.AsyncClient(
        base_url=base_url(app),
        transport=transport,
        timeout=60,
        **options,  # type: ignore[arg-type]
    ) as client:
        yield client


async def open_from(
    app: App, address: str = ATTACKER
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw TCP connection to the HTTP port from `address`."""
    assert app.http_port is not None
    return await asyncio.open_connection("127.0.0.1", app.http_port, local_addr=(address, 0))


async def read_response(reader: asyncio.StreamReader, timeout: float = 30) -> tuple[int, bytes]:
    """Status and head of one response; (0, b"") if the connection ended without one."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (asyncio.IncompleteReadError, ConnectionError):
        return 0, b""
    return int(head.split()[1]), head


@asynccontextmanager
async def attacker_site(address: str, html: str) -> AsyncIterator[str]:
    """A real web server on `address` (a port of its own) answering every request with the
    attacker's page; yields its origin. Being a real loopback server, the page is in the
    same address space as the torbit server, as a page on the internet is for a server on
    the internet: the browser's local-network checks do not stand in for torbit's."""
    body = html.encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, address, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://{address}:{port}"
    finally:
        server.close()
        await server.wait_closed()
