"""A line door's input, handled one event at a time and in order: what arrives while a
handler runs waits in a queue, and reading pauses while too much waits (the kernel's buffer,
then TCP, push back on the client). An idle connection keeps no queue. Shared by the telnet
and IRC sessions, which say what an event means (`_handle`) and how an error is shown."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import Generic, TypeVar

from torbit.errors import TorbitError
from torbit.frontends.flow import TransportWriter

E = TypeVar("E")


class PacedInput(Generic[E]):
    __slots__ = ("_busy", "_draining", "_ended", "_paused", "_pending")

    max_pending = 64  # events queued while earlier ones are handled; reading pauses beyond
    closed: bool
    _writer: TransportWriter | None

    def _init_input(self) -> None:
        self._pending: deque[E] | None = None
        self._busy = False
        self._draining = ""  # the node is leaving: close with this once the handler is done
        self._paused = False
        self._ended = False  # the client closed its side: close ours once its input is handled

    # what a door says

    def _handle(self, event: E) -> bool:
        """Act on one event (`_run` what must be awaited); False stops reading the queue."""
        raise NotImplementedError

    def _tell(self, text: str) -> None:
        """Show the client an error of the handler it asked for."""
        raise NotImplementedError

    def _who(self) -> str:
        """The client, for the log."""
        raise NotImplementedError

    def _held_back(self) -> bool:
        """True while the door holds its client's next event back (IRC's command pacing):
        nothing more is handled until the door calls `_pump` again, and reading goes on, so
        that the door sees (and bounds) how far ahead the client runs."""
        return False

    def close(self, reason: str) -> None:
        raise NotImplementedError

    _log = logging.getLogger("torbit")

    # the queue

    def _queue(self, events: Iterable[E]) -> None:
        if self._pending is None:
            self._pending = deque(events)
        else:
            self._pending.extend(events)
        if len(self._pending) > self.max_pending and not self._paused and not self._held_back():
            self._pause(True)
        self._pump()

    def _pump(self) -> None:
        pending = self._pending
        if pending is None:
            self._end()
            return
        while pending and not self._busy and not self.closed and not self._held_back():
            if not self._handle(pending.popleft()):
                return
        if not pending:
            self._pending = None
        if self._paused and (len(pending) < self.max_pending // 2 or self._held_back()):
            self._pause(False)
        if not pending:
            self._end()

    def _run(self, work: Awaitable[None]) -> None:
        self._busy = True
        task = asyncio.ensure_future(work)
        task.add_done_callback(self._done)
        self._started(task)

    def _started(self, task: asyncio.Future[None]) -> None:
        """A handler's task, for the door to wait for at a stop (its work may use the store,
        which closes after the doors)."""

    def _done(self, task: asyncio.Future[None]) -> None:
        self._busy = False
        if not task.cancelled() and (exc := task.exception()) is not None:
            if isinstance(exc, TorbitError):
                self._tell(exc.message)
            else:
                self._log.error("handler failed for %s", self._who(), exc_info=exc)
                self._tell("internal error; please try again")
        if self._draining:
            self.close(self._draining)
            return
        self._pump()

    def _input_ended(self) -> bool:
        """The client closed its side (EOF) with input still waiting or being handled: True
        when that input is to be handled first, in order, and answered, and our side closed
        then (`_pump`), as a client piping its session expects (`printf ... | nc -N`). False
        (nothing waits, or the session is closing anyway): the caller departs at once."""
        if self.closed or self._draining or (self._pending is None and not self._busy):
            return False
        self._ended = True
        return True

    def _end(self) -> None:
        """Nothing waits: if the client has closed its side, close ours."""
        if self._ended and not self._busy and not self.closed:
            self.close("end of input")

    def _stop_reading(self, reason: str) -> bool:
        """Drop what waits and read no more; True when nothing runs, so the caller may close
        now (else the running handler is answered first, then the session closes)."""
        self._pending = None
        self._pause(True)
        if self._busy:
            self._draining = reason
            return False
        return True

    def _pause(self, pause: bool) -> None:
        w = self._writer
        if w is None or w.transport is None:
            return
        self._paused = pause
        if pause:
            w.transport.pause_reading()
        else:
            w.transport.resume_reading()
