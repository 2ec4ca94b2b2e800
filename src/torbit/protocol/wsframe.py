"""Server-to-client WebSocket text frames (RFC 6455, section 5.2), encoded once per message
however many clients get it: a server's frames are never masked, so the same bytes go to
every connection. One frame per message (FIN set), uncompressed (RSV1 clear), which a
connection that negotiated permessage-deflate also accepts (RFC 7692, section 6.1)."""

from __future__ import annotations

import struct

TEXT = 0x81  # FIN + opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """The frame carrying `payload`, which must be UTF-8 text."""
    n = len(payload)
    if n < 126:
        return bytes((TEXT, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", TEXT, 126, n) + payload
    return struct.pack("!BBQ", TEXT, 127, n) + payload
