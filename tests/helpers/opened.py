"""Every client the test helpers open (telnet, raw IRC, pydle), closed at the end of the test
that opened it, passed or failed: `make_server`'s teardown (tests/conftest.py) calls
`close_opened()` before it stops the servers, in the test's own event loop.

A client a failing test left open was otherwise freed with the traceback that held it, in a
later test: its socket's ResourceWarning ("unclosed <socket.socket ...>"), an error under
`filterwarnings = error`, then failed that test too, and one failure made two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# the clients still open, each with the loop it was opened in and how to close it
_opened: dict[int, tuple[asyncio.AbstractEventLoop, Callable[[], Awaitable[None]]]] = {}


def opened(client: T, close: Callable[[], Awaitable[None]]) -> T:
    """Keep `client` to close (with `close`) at the end of the test, if the test does not."""
    _opened[id(client)] = (asyncio.get_running_loop(), close)
    return client


def closed(client: object) -> None:
    """The test closed `client` itself."""
    _opened.pop(id(client), None)


async def close_opened() -> None:
    """Close every client opened in this event loop and not closed yet. (Clients of another
    loop, opened by a test that started no server this way, stay here: closed, that loop can
    no longer close them, and let go, each would warn in whichever test freed it.)"""
    loop = asyncio.get_running_loop()
    for key, (where, close) in list(_opened.items()):
        # a client closing itself while an earlier one closes has already left `_opened`
        if where is loop and _opened.pop(key, None) is not None:
            with contextlib.suppress(Exception):  # a client the server cut: closed all the same
                await close()
