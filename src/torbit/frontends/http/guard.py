"""Bounds on a request's head (request line and headers), which uvicorn leaves open: its
httptools parser keeps a header that has not ended in memory however long it grows, and a
connection that never completes a head is kept forever. Slowloris clients and endless headers
would otherwise hold sockets and memory without limit.

`GuardedHttpTools` is uvicorn's httptools protocol with two limits added:

- HEAD_TIMEOUT: a head must be complete within this many seconds of the connection opening
  or of its first byte (for later requests on a kept-alive connection); otherwise 408 and
  close (a connection that sent nothing at all is just closed). Idle time between requests is
  uvicorn's own keep-alive timeout.
- MAX_HEAD_BYTES: a head may not grow past this (plus at most one read); otherwise 431.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT = 20.0
MAX_HEAD_BYTES = 64 * 1024

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def _error(status: int, code: str, message: str) -> bytes:
    """A complete response in the API's one error shape, closing the connection."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        )
    )


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on every request head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = False  # between a request's first byte and the end of its headers
        self._head_bytes = 0  # bytes read while in the head, after the read that began it
        self._got_bytes = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._got_bytes = True
        was_in_head = self._in_head
        super().data_received(data)
        if self._in_head and was_in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._refuse(
                    431,
                    "too_large",
                    f"request line and headers too large: at most {MAX_HEAD_BYTES} bytes",
                )

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        if self._head_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    # the deadline

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._got_bytes:
            self._refuse(
                408, "timeout", f"request headers not complete within {HEAD_TIMEOUT:g} seconds"
            )
        else:
            self.transport.close()

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._disarm()
        self.transport.write(_error(status, code, message))
        self.transport.close()
