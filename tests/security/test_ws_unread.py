"""A WebSocket client that sends faster than the server reads: 300 messages of 60 KB of one
letter, compressed to a few dozen bytes each, written in one burst. uvicorn queued every
message of a received chunk, inflated, before the handler read one (18 MB for one socket);
now the unread messages are bounded (two of the largest) and the socket is closed with 1008."""

from __future__ import annotations

import tracemalloc

from tests.helpers.http import register
from tests.helpers.moderation import api
from tests.security.conftest import basic_header, first_frames, ws_from
from torbit.app import App

MESSAGES = 300
SIZE = 60_000


async def test_unread_incoming_messages_are_bounded(server: App) -> None:
    async with api(server, "mallory") as http:
        await register(http, "mallory")
    ws = await ws_from(server, basic_header("mallory"), logged_in=True)
    assert ws.response is not None
    assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
    tracemalloc.start()
    try:
        for _ in range(MESSAGES):  # framed and compressed, then written at once
            ws.protocol.send_text(b"a" * SIZE)
        burst = b"".join(ws.protocol.data_to_send())
        assert len(burst) < 64 * 1024
        tracemalloc.reset_peak()
        ws.transport.write(burst)
        frames = await first_frames(ws, MESSAGES, timeout=60)  # until closed
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # on stage: all 300 (18 MB) waited at once and each got an error frame
    assert peak < 4 * 1024 * 1024, peak
    assert len(frames) < MESSAGES
    assert (ws.close_code, ws.close_reason) == (1008, "too many unread messages")
