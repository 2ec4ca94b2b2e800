"""The classic `GET /receive` page over a raw socket: its bytes for a fixed set of messages,
ignored senders left out; a HEAD answer and a 100-continue on the same connection."""

from __future__ import annotations

import asyncio
import base64

import httpx

from tests.helpers.http import PASSWORD, basic
from torbit.app import App

TEXTS = [
    "plain",
    'quotes " and \\ backslash',
    "non-ASCII: é ü 漢字 😀",
    "tab\tinside",
    "</script><b>&amp;",
    "x" * 500,
]


def auth_header(name: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode())


async def raw_get(app: App, path: str, user: str) -> tuple[bytes, bytes]:
    """Head and body of one GET over a fresh connection (content-length framed)."""
    assert app.http_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: ".encode()
            + auth_header(user)
            + b"\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        return head, await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        writer.close()


async def send(client: httpx.AsyncClient, user: str, text: str) -> bytes:
    """The stored message as `/send` answers it (JSONResponse of `message_json`)."""
    r = await client.post(
        f"/send/lobby/{user}", content=text.encode(), auth=basic(user),
        headers={"content-type": "text/plain; charset=utf-8"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.content


async def test_a_page_is_the_stored_messages_byte_for_byte(
    server: App, client: httpx.AsyncClient
) -> None:
    """For a fixed set of messages, a page's body is exactly `{"messages":[...]}` of each
    message as `/send` answered it (Starlette's JSONResponse encoding): the page's reading
    and encoding may change, its bytes may not. carol is ignored: left out, passed over."""
    assert (await client.put("/api/v1/me/ignores/carol", auth=basic("bob"))).status_code == 204
    assert (await raw_get(server, "/receive/lobby/bob?limit=1", "bob"))[1] == b'{"messages":[]}'
    kept: list[bytes] = []
    for i, text in enumerate(TEXTS * 3):
        sender = ("alice", "carol", "bob")[i % 3]
        answer = await send(client, sender, text)
        if sender != "carol":
            kept.append(answer)
    pages = []
    for _ in range(4):  # pages of 5, the last one short, then nothing
        head, body = await raw_get(server, "/receive/lobby/bob?limit=5", "bob")
        assert head.startswith(b"HTTP/1.1 200 ") and b"application/json" in head.lower()
        pages.append(body)
    expected = [kept[i : i + 5] for i in range(0, len(kept), 5)]
    assert len(expected) == 3 and len(expected[-1]) == 2
    assert pages == [b'{"messages":[' + b",".join(p) + b"]}" for p in expected] + [
        b'{"messages":[]}'
    ]


async def test_head_answers_and_100_continue_are_not_held(
    server: App, client: httpx.AsyncClient
) -> None:
    """A HEAD answer has no body to go with: its head is written all the same, and the
    next request on the connection is answered. `Expect: 100-continue` gets its interim
    answer before the body is sent."""
    assert server.http_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    try:
        writer.write(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 ")
        writer.write(
            b"POST /send/lobby/alice HTTP/1.1\r\nHost: x\r\nAuthorization: "
            + auth_header("alice")
            + b"\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
            + b"Expect: 100-continue\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert final.startswith(b"HTTP/1.1 201 ")
    finally:
        writer.close()
