"""The aiosqlite connections a SQLite store's engines open, each with a thread of its own, kept
in sight until the store has closed: once `SqlStore.close` returns, every one of them is
closed and its thread has ended.

aiosqlite runs each statement in the connection's thread, which then hands the answer to the
event loop of the task that asked. A task cancelled in the middle of a statement ends at once,
but its statement runs on, and a connection given back to a pool that a dispose has replaced
meanwhile (or never given back) is closed by nobody. Had the store's close returned then, the
thread's answer could come after the loop had closed: "RuntimeError: Event loop is closed",
raised in that thread and reported by pytest at whichever test ran next (as CI saw), or the
connection collected unclosed, its `stop()` then asking a closed loop the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from torbit.errors import ServiceUnavailable

log = logging.getLogger(__name__)

# a thread whose connection has closed has nothing left to do but end: this bounds a join
# that only a bug in the driver could make wait
JOIN_GUARD_S = 5.0


def thread_of(driver: Any) -> threading.Thread | None:
    """aiosqlite's thread for a connection (before aiosqlite 0.20 the connection was it)."""
    if isinstance(driver, threading.Thread):
        return driver
    thread = getattr(driver, "_thread", None)
    return thread if isinstance(thread, threading.Thread) else None


class DriverConnections:
    """The aiosqlite connections of the engines given to `watch`, until `close`."""

    def __init__(self) -> None:
        self._drivers: list[Any] = []  # aiosqlite.Connection
        self._closing = False

    def watch(self, engine: AsyncEngine) -> None:
        self._closing = False

        @event.listens_for(engine.sync_engine, "do_connect")
        def _refused(*_: Any) -> None:
            # a task still running while the store closes (a login's check, a logout) would
            # open a connection on the disposed engine's new pool, which nothing closes
            if self._closing:
                raise ServiceUnavailable("storage unavailable: the store is closed")

        @event.listens_for(engine.sync_engine, "connect")
        def _opened(dbapi_connection: Any, _record: Any) -> None:
            self._drivers = [d for d in self._drivers if _alive(d)]
            self._drivers.append(dbapi_connection.driver_connection)

    def refuse(self) -> None:
        """The store is closing: no connection is opened from now on."""
        self._closing = True

    async def close(self) -> None:
        """Once the engines are disposed (which closed the connections in their pools):
        close every connection still open (one a task still holds: after what its thread
        is running, whose answer comes while the loop runs), then join every thread, each
        with nothing left to do but end."""
        self._closing = True
        drivers, self._drivers = self._drivers, []
        for driver in drivers:
            if is_stopped(driver):
                continue  # its thread ends after what it is running: joined below
            with contextlib.suppress(Exception):  # closed already, or its close failed
                await asyncio.wait_for(driver.close(), JOIN_GUARD_S)
        for driver in drivers:
            thread = thread_of(driver)
            if thread is not None and thread.is_alive():
                thread.join(JOIN_GUARD_S)
                if thread.is_alive():
                    log.warning("an aiosqlite thread did not end with its connection")


def _alive(driver: Any) -> bool:
    thread = thread_of(driver)
    return thread is not None and thread.is_alive()


def is_stopped(driver: Any) -> bool:
    """True once `stop()` was called: what SQLAlchemy's terminate does to a connection whose
    task was cancelled, or that the garbage collector found unreturned. Its thread closes the
    connection and ends after the statement it runs; `close()` called before that is refused
    ("Connection closed"), queues a second stop that the ended thread never answers, and
    waits for it forever (aiosqlite 0.22): a store's close hung so in CI."""
    return getattr(driver, "_running", True) is False


def is_closed(driver: Any) -> bool:
    """True for an aiosqlite connection closed under the task that still holds it."""
    return getattr(driver, "_connection", True) is None
