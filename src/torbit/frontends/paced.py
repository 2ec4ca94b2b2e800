"""A line door's input, handled one event at a time and in order: what arrives while a
handler runs waits in a queue, and reading pauses while too much waits (the kernel's buffer,
then TCP, push back on the client). An idle connection keeps no queue. Reading also pauses
while a connection is past its input byte budget (`limits.input_rate`; a smaller one until
login): bytes that make no event (telnet commands, an endless line) cost CPU too, and a
client may not spend more of it than the budget lets, however many connections others have.
Shared by the telnet and IRC sessions, which say what an event means (`_handle`) and how an
error is shown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import Generic, TypeVar

from torbit.core.limits import ByteBudget
from torbit.errors import TorbitError
from torbit.frontends.flow import TransportWriter

E = TypeVar("E")


class PacedInput(Generic[E]):
    __slots__ = (
        "_budget",
        "_busy",
        "_draining",
        "_ended",
        "_full_at",
        "_kept",
        "_paused",
        "_pending",
        "_refill",
    )

    max_pending = 64  # events queued while earlier ones are handled; reading pauses beyond
    closed: bool
    _writer: TransportWriter | None

    def _init_input(self, budget: ByteBudget) -> None:
        self._budget = budget  # the door's budget before login; `_admit` gives the other
        self._full_at = 0.0  # the input byte bucket's TAT: when it is full again (core/gcra.py)
        self._refill: asyncio.TimerHandle | None = None  # while the budget pauses reading
        self._kept: bytes | None = None  # read past the budget: let in as it refills
        self._pending: deque[E] | None = None
        self._busy = False
        self._draining = ""  # the node is leaving: close with this once the handler is done
        self._paused = False
        self._ended = False  # the client closed its side: close ours once its input is handled

    # what a door says

    def _handle(self, event: E) -> bool:
        """Act on one event (`_run` what must be awaited); False stops reading the queue."""
        raise NotImplementedError

    def _handled(self) -> None:
        """A command `_run` is done, its error told, before the next is taken."""

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

    def _reads_while_held(self) -> bool:
        """Reading goes on while the door holds its client back (True), so that the door
        sees how far ahead it runs (IRC's Excess Flood); False: reading pauses at
        `max_pending` as while a handler runs (IRC before registration: TCP pushes back)."""
        return True

    def close(self, reason: str) -> None:
        raise NotImplementedError

    _log = logging.getLogger("torbit")

    # the queue

    def _queue(self, events: Iterable[E]) -> None:
        if self._pending is None:
            self._pending = deque(events)
        else:
            self._pending.extend(events)
        if (
            len(self._pending) > self.max_pending
            and not self._paused
            and not (self._held_back() and self._reads_while_held())
        ):
            self._pause(True)
        self._pump()

    def _pump(self) -> None:
        pending = self._pending
        if pending is None:
            self._end()
            return
        while pending and not self._busy and not self.closed and not self._held_back():
            if not self._handle(pending.popleft()) or self._pending is not pending:
                return  # (not pending: the session closed, its input dropped)
        if not pending:
            self._pending = None
        if self._paused and (
            len(pending) < self.max_pending // 2 or (self._held_back() and self._reads_while_held())
        ):
            self._pause(False)
        if not pending:
            self._end()

    def _run(self, work: Awaitable[None]) -> None:
        self._busy = True
        self._start(work).add_done_callback(self._done)

    def _start(self, work: Awaitable[None]) -> asyncio.Future[None]:
        """A handler's task, started; the door keeps it to wait for at a stop (its work may
        use the store, which closes after the doors)."""
        return asyncio.ensure_future(work)

    def _done(self, task: asyncio.Future[None]) -> None:
        self._busy = False
        if not task.cancelled() and (exc := task.exception()) is not None:
            if isinstance(exc, TorbitError):
                self._tell(exc.message)
            else:
                self._log.error("handler failed for %s", self._who(), exc_info=exc)
                self._tell("internal error; please try again")
        self._handled()
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
        if self._refill is not None:  # paused by the budget: its timer resumes, if nothing waits
            return
        if pause:
            w.transport.pause_reading()
        else:
            w.transport.resume_reading()

    # the input byte budget

    def _input(self, data: bytes) -> None:
        """Bytes the budget let in: decoded, and their events queued (the door's codec)."""
        raise NotImplementedError

    def _let_in(self, data: bytes) -> None:
        """Hand `data` (just read) to the door's codec as far as the budget lets it in now:
        the usual read whole, for one `Gcra.admit`. Past the budget, see `_past_budget`."""
        budget = self._budget
        if budget.rate > 0:
            now = time.monotonic()
            after = budget.admit(self._full_at, now, len(data))
            if after is None:
                data = self._past_budget(data, now)
                if not data:
                    return
            else:
                self._full_at = after
        self._input(data)

    def _past_budget(self, data: bytes, now: float) -> bytes:
        """What of `data` the budget lets in at `now`, more than it holds: reading pauses and
        the rest (one read at most) is kept, and let in as the bucket refills (`_refilled`):
        the codec never sees more than the budget, however much one read brought."""
        budget = self._budget
        take = max(budget.room(self._full_at, now), 0)
        self._full_at = budget.spend(self._full_at, now, take)
        rest = data[take:]
        self._kept = rest if self._kept is None else self._kept + rest
        if budget.cut and len(self._kept) > budget.burst:
            self._kept = None
            self._flooded()
            return b""
        if self._refill is None:
            self._hold(budget.pause)
        return data[:take]

    def _hold(self, wait: float) -> None:
        w = self._writer
        if w is None or w.transport is None or self.closed:
            return
        if not self._paused:
            w.transport.pause_reading()
        self._refill = asyncio.get_running_loop().call_later(wait, self._refilled)
        self._over_budget()

    def _over_budget(self) -> None:
        """Reading paused by the budget (the door counts it)."""

    def _flooded(self) -> None:
        """More than twice a cutting budget's burst at once (before login): the door says
        so and closes the connection."""
        self._tell("too much input before login, bye")
        self.close("input flood before login")

    def _refilled(self) -> None:
        """The budget's pause is over: what was kept is let in (as far as the budget goes),
        then reading goes on, unless the queue still holds it paused (`_pump` resumes it),
        the budget paused it again, or the session is ending."""
        self._refill = None
        kept, self._kept = self._kept, None
        if kept and not self.closed:
            self._let_in(kept)
        w = self._writer
        if (
            self._refill is not None
            or w is None
            or w.transport is None
            or self.closed
            or self._draining
            or self._paused
        ):
            return
        w.transport.resume_reading()

    def _admit(self, budget: ByteBudget) -> None:
        """Logged in: the connection's budget from now on, its bucket full; a pause for the
        login's budget is over at once."""
        self._budget = budget
        self._full_at = 0.0
        held = self._refill
        if held is not None:
            held.cancel()
            self._refilled()

    def _release_budget(self) -> None:
        """The connection is gone: no timer keeps the session, nothing kept is let in."""
        self._kept = None
        if self._refill is not None:
            self._refill.cancel()
            self._refill = None
