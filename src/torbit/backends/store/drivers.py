"""The driver connections a SQLite store's engines open, each with its aiosqlite thread, kept
in sight until the store has closed: `SqlStore.close` returns only once every one of them is
closed and its thread has ended.

A stop cancels tasks that may be in the middle of a statement. The task ends at once, but
its statement runs on in aiosqlite's thread, which then hands the answer to the event loop.
Returned to a pool that a dispose has replaced meanwhile, or never returned, a connection
is not closed by the dispose either. Left at that, a node's stop returned with the answer
still to come and the connection open: a test's event loop closed before the answer came
("RuntimeError: Event loop is closed" in the thread), and the connection was collected
unclosed (a ResourceWarning). Here the store waits for those threads, with the loop running.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from torbit.errors import ServiceUnavailable

log = logging.getLogger(__name__)

# for a statement still running in a thread when the store closes: SQLite's busy_timeout
# (dialects.BUSY_TIMEOUT_MS) bounds its waits for the lock
SETTLE_SECONDS = 6.0


def _thread_of(driver: Any) -> threading.Thread | None:
    """aiosqlite's worker thread (aiosqlite < 0.21: the connection is the thread)."""
    if isinstance(driver, threading.Thread):
        return driver
    thread = getattr(driver, "_thread", None)
    return thread if isinstance(thread, threading.Thread) else None


class DriverThreads:
    """The aiosqlite connections of the engines `watch` was given, until they have ended."""

    def __init__(self) -> None:
        self._drivers: list[Any] = []  # aiosqlite.Connection
        self.closing = False  # set by the store's close: no connection is opened from then on

    def watch(self, engine: AsyncEngine) -> None:
        self.closing = False

        @event.listens_for(engine.sync_engine, "do_connect")
        def _refused(*_: Any) -> None:
            # a task still running while the store closes (a login's check, a logout) would
            # open a connection on the disposed engine's new pool, which nothing closes
            if self.closing:
                raise ServiceUnavailable("storage unavailable: the store is closed")

        @event.listens_for(engine.sync_engine, "connect")
        def _opened(dbapi_connection: Any, _record: Any) -> None:
            self._drivers.append(dbapi_connection.driver_connection)

    @property
    def running(self) -> list[threading.Thread]:
        """The threads of these connections still alive (forgetting those that ended)."""
        alive = []
        for driver in list(self._drivers):
            thread = _thread_of(driver)
            if thread is not None and thread.is_alive():
                alive.append(thread)
            else:
                self._drivers.remove(driver)
        return alive

    async def ended(self, within: float = SETTLE_SECONDS) -> None:
        """After the engines were disposed: wait (the loop running, to take the answers)
        until every thread has finished what it was given and ended. A connection nobody
        closes (one a task kept and never gave back) is then told to close."""
        if not await self._wait(within):
            for driver in self._drivers:
                # queued behind what the thread still has to do; the connection's own close
                # had queued the same already if `_running` is off
                if getattr(driver, "_running", False) and hasattr(driver, "stop"):
                    driver.stop()
            if not await self._wait(within):
                log.warning("%d SQLite driver threads still running", len(self.running))

    async def _wait(self, within: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.running:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.001)
        return True
