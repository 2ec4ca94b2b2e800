"""A scripted client pipes its whole session and then closes its side, as
`printf 'alice\\npw\\npw\\nhello\\n' | nc -N host 5000` does (and `nc -q N`): every line it sent
before its EOF is still handled, in order, and answered, then the server closes. Before, the
EOF dropped what was queued behind the first line, so such a session did nothing at all."""

from __future__ import annotations

import asyncio

import httpx

from torbit.app import App

PASSWORD = "piped-secret"
HANG_GUARD = 30.0  # seconds: only a hang takes this long


async def piped(port: int, script: bytes) -> str:
    """Connect, send the whole script at once, half-close, and read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(script)
    await writer.drain()
    writer.write_eof()
    try:
        data = await asyncio.wait_for(reader.read(), HANG_GUARD)
    finally:
        writer.close()
    return data.decode(errors="replace")


async def last_text(app: App) -> str:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as http:
        r = await http.get("/api/v1/rooms/lobby/messages?limit=1", auth=("pipe", PASSWORD))
        assert r.status_code == 200, r.text
        messages = r.json()["messages"]
        return str(messages[-1]["text"]) if messages else ""


async def test_telnet_session_piped_then_eof(server: App) -> None:
    assert server.telnet_port is not None
    script = f"pipe\n{PASSWORD}\n{PASSWORD}\nhello from a pipe\n/who\n".encode()
    seen = await piped(server.telnet_port, script)
    assert "Welcome, pipe!" in seen
    assert "<pipe> hello from a pipe" in seen
    assert "* here in #lobby" in seen  # the last line, answered before the close
    assert await last_text(server) == "hello from a pipe"


async def test_irc_session_piped_then_eof(server: App) -> None:
    assert server.telnet_port is not None and server.irc_port is not None
    await piped(server.telnet_port, f"pipe\n{PASSWORD}\n{PASSWORD}\n".encode())
    script = (
        f"PASS pipe:{PASSWORD}\r\nNICK pipe\r\nUSER pipe 0 * :Pipe\r\n"
        "JOIN #lobby\r\nPRIVMSG #lobby :hello over IRC from a pipe\r\nPING :last\r\n"
    ).encode()
    seen = await piped(server.irc_port, script)
    assert " 001 pipe " in seen
    assert " JOIN #lobby" in seen
    assert "PONG torbit :last" in seen or "PONG torbit last" in seen
    assert await last_text(server) == "hello over IRC from a pipe"
