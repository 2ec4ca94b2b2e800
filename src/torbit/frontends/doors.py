"""What the telnet and IRC doors' servers share: listening on plain and TLS sockets (behind
PROXY protocol balancers when configured), background tasks kept until done, the logouts of
clients that vanished (worked off a slice at a time), and the drain and shutdown every door
goes through the same way."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar

from torbit.core.limits import ConnectionLimiter
from torbit.frontends.admission import Doorman, Refusals
from torbit.frontends.flow import FlushQueue, bound_unread, reset
from torbit.frontends.handshake import (
    HANDSHAKE_TIMEOUT,
    HandshakeGate,
    Handshakes,
    PlainAnswer,
)
from torbit.frontends.line_session import LineSession
from torbit.frontends.listeners import LISTEN_BACKLOG
from torbit.frontends.proxied import ProxyGate, TrustedNetworks
from torbit.frontends.tally import Tally
from torbit.metrics import Metrics


class DoorSession(Protocol):
    door: str
    ip: str

    @property
    def user_key(self) -> str: ...

    def drain(self, text: str) -> None: ...
    def output_pending(self) -> bool: ...
    def close(self, reason: str) -> None: ...
    def cut(self) -> None: ...
    def hung_up(self) -> None: ...


S = TypeVar("S", bound=DoorSession)

# While a storm of EOFs is still arriving, whatever else a loop turn does lets more of them
# pile up for the next poll, which reads all of them before the loop runs anything else
# (libuv: a read() and an epoll_ctl() a socket, most of the ~4 µs an EOF costs here), and a
# PING read meanwhile is answered only after that poll and the pieces queued before it. So
# the storm's own work comes in small pieces: at 256 closes and 5 ms of logouts a turn, 5,000
# IRC clients leaving made ~20 turns of over 5 ms of CPU and up to 3,851 EOFs in one poll;
# at 64 and 1 ms, 1-2 such turns and up to 3,047 (bench/JOURNAL.md, "ircleave").
LOGOUT_SLICE = 0.001  # seconds of logouts per loop turn while many sessions leave at once
CLOSE_BATCH = 64  # our side of connections whose clients closed theirs: closed per loop turn
QUIET_GC_AT = 256  # departures waiting: from here, no collection of cycles until all are done
# at a stop, the connections closed after the output grace: the longest wait for their
# departures, before those still not lost (their clients read nothing) are cut
DEPART_GRACE = 0.5
# our side of a connection closed (its client hung up, or ours: a QUIT, a drain, the end of a
# piped client's input, a kick-ban, an error) with output still unread: the longest it then
# waits for the client to read it before the connection is cut. Its address's count is held
# till then; without the cut, a client that never reads would keep each such socket, with up
# to max_output_buffer queued, for ever.
LINGER = 30.0

# doors working off a storm of departures: while there are any, the cyclic garbage collector
# waits (a full collection of a heap of 10,000 sessions stops the loop for 50-100 ms, and the
# storm's allocations would start one); `_gc_was_on` says whether to turn it back on after
_gc_holds = 0
_gc_was_on = False


def _hold_gc() -> None:
    global _gc_holds, _gc_was_on
    if _gc_holds == 0:
        _gc_was_on = gc.isenabled()
        gc.disable()
    _gc_holds += 1


def _release_gc() -> None:
    global _gc_holds
    _gc_holds -= 1
    if _gc_holds == 0 and _gc_was_on:
        gc.enable()


class LineDoor(Generic[S]):
    """A door's listening sockets and the sessions they opened."""

    def __init__(
        self,
        log: logging.Logger,
        connections: ConnectionLimiter,
        metrics: Metrics,
        flush_window: float,
        refusal: Callable[[str], bytes],
    ) -> None:
        self.connections = connections
        self.metrics = metrics
        name = log.name.removeprefix("torbit.")
        self.refusals = Refusals(name, connections, refusal, metrics, log)
        self.cuts = Tally(log, f"{name}: cut before login")
        self.lingered = Tally(log, f"{name}: cut after its close, its output unread")
        self.flushes = FlushQueue(flush_window)
        self.input_bytes = 0  # read from its connections, for torbit_input_bytes
        metrics.count_input(log.name.removeprefix("torbit."), lambda: self.input_bytes)
        self.sessions: set[S] = set()
        self._log = log
        self._servers: list[asyncio.Server] = []
        # TLS connections not past their handshake yet, and PROXY ones before their header
        self._handshakes = Handshakes()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Future[None]] = set()  # the sessions' (paced.py), running
        self._loop: asyncio.AbstractEventLoop | None = None  # `start`'s, fetched once
        # vanished sessions not yet logged out (with: log the user out?), and the one being
        # logged out now; futures only for those someone waits for (`gone`)
        self._departing: deque[S] = deque()
        self._log_outs: deque[bool] = deque()  # beside it: nothing allocated per departure
        self._departures: asyncio.Task[None] | None = None
        self._holding_gc = False
        self._leaving_now: S | None = None
        self._awaited: dict[S, asyncio.Future[None]] = {}
        # sessions whose clients closed their side (EOF), ours still open (`hang_up`); then,
        # ours closed (so, or by the session: `linger`), their connections until lost
        # (`lost`), each with the time it is cut at (LINGER), oldest first: `_cut_lingering`
        # cuts those past it, a stop those left
        self._hung_up: deque[tuple[S, asyncio.Transport]] = deque()
        self._closing: dict[S, tuple[asyncio.Transport, float]] = {}
        self._linger: asyncio.TimerHandle | None = None  # `_cut_lingering`'s next turn
        self._none_left = asyncio.Event()  # set when the last session has departed

    async def _listen(
        self,
        sock: socket.socket,
        tls: ssl.SSLContext | None,
        proxies: TrustedNetworks | None,
        door: str,
        session: Callable[[tuple[str, int] | None], LineSession[Any]],
        plain: PlainAnswer | None = None,
    ) -> None:
        """Serve clients on a bound socket; with `proxies`, behind PROXY protocol balancers
        (proxied.py), which hand the session the client's own address. With `tls`, the
        connection counts in `self.connections` from its accept, through its handshake
        (handshake.py), and a client speaking plain text to it gets `plain` (handshake.py's
        `PlainAnswer`). Otherwise a `Doorman` admits or refuses each connection before a
        session is made for it (admission.py)."""

        def gate() -> asyncio.Protocol:
            assert proxies is not None
            return ProxyGate(session, proxies, door.removesuffix("-tls"), self._handshakes)

        def arrived(counted: str, refused: str) -> asyncio.Protocol:
            made = session(None)  # counted by its gate, with its token (or refused for it)
            made.admitted(refused)
            return made

        loop = asyncio.get_running_loop()
        if tls is not None and proxies is None:
            self._servers.append(
                await loop.create_server(
                    lambda: HandshakeGate(
                        arrived,
                        tls,
                        self.connections,
                        pending=self._handshakes,
                        plain=plain,
                        refusals=self.refusals,
                    ),
                    sock=sock,
                    backlog=LISTEN_BACKLOG,
                )
            )
            return
        if tls is None and proxies is None:
            doorman = Doorman(session, self.connections, self.refusals)
            self._servers.append(
                await loop.create_server(lambda: doorman, sock=sock, backlog=LISTEN_BACKLOG)
            )
            return
        self._servers.append(
            await loop.create_server(
                gate if proxies is not None else lambda: session(None),
                sock=sock,
                ssl=tls,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT if tls else None,
                backlog=LISTEN_BACKLOG,
            )
        )

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a session's background work, keeping a reference until it is done."""
        self._track(asyncio.get_running_loop().create_task(coro))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def start(self, handler: Awaitable[None]) -> asyncio.Future[None]:
        """A session's handler (paced.py) started, and kept until done: a stop waits for it.
        (Its errors are the session's to show, not the door's to log.) The loop is fetched
        once: `ensure_future` asked for it per line (CPython 3.11: a getpid() each time)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(handler, loop=loop)
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log.warning("background task failed: %s", exc)

    def depart(self, session: S, log_out: bool = True) -> None:
        """A session's connection is gone: forget it soon (`_log_out`: the door's bookkeeping,
        then, with `log_out`, the user's logout). This is all a `connection_lost` does: when
        10,000 clients vanish at once, uvloop calls every `connection_lost` in one loop turn,
        and the loop answers nobody until the last returns. One task works through everyone
        who left, a few milliseconds at a time, so the loop polls sockets in between."""
        departing = self._departing
        departing.append(session)
        self._log_outs.append(log_out)
        if self._departures is None:
            self._departures = asyncio.get_running_loop().create_task(self._work_off())
            self._track(self._departures)
        elif len(departing) == QUIET_GC_AT and not self._holding_gc:
            self._holding_gc = True
            _hold_gc()

    def hang_up(self, session: S, transport: asyncio.Transport) -> bool | None:
        """What a plain (not TLS) session's `eof_received` returns once its client closed its
        side with nothing left to answer: True, and the door ends the session (it departs:
        `hung_up`) and closes our side soon, `CLOSE_BATCH` a loop turn; None (uvloop closes
        it) when it is closing already. uvloop reads the EOFs of 10,000 clients leaving at
        once in one poll and calls every `eof_received` in that turn: had each departed
        there (the IRC door also takes the user off every room's online list then) or let
        uvloop close its socket (the `close()` syscall sending our FIN, the transport's
        `connection_lost`, in the turn after), the loop would answer nobody until the last.
        A reset (RST) still ends in that turn: uvloop gives the protocol no say then."""
        if transport.is_closing():  # ours closed already (a QUIT), its output unread: kept
            session.hung_up()  # since (`linger`), cut at the time set then
            self._keep(session, transport, asyncio.get_running_loop().time() + LINGER)
            return None
        hung_up = self._hung_up
        hung_up.append((session, transport))
        if len(hung_up) == 1:
            asyncio.get_running_loop().call_soon(self._close_hung_up)
        return True

    def _close_hung_up(self) -> None:
        hung_up = self._hung_up
        loop = asyncio.get_running_loop()
        until = loop.time() + LINGER
        for _ in range(min(CLOSE_BATCH, len(hung_up))):
            self._close_our_side(*hung_up.popleft(), until)
        if hung_up:  # the rest after the loop has polled sockets again
            loop.call_soon(self._close_hung_up)

    def _close_our_side(self, session: S, transport: asyncio.Transport, until: float) -> None:
        """The session departs; our side closes once its output is out (which a client
        that reads nothing never takes: it is cut at `until` then, or at a stop)."""
        session.hung_up()
        self._keep(session, transport, until)
        transport.close()

    def linger(self, session: S, transport: asyncio.Transport) -> None:
        """Our side of a session's connection is closing (`LineSession.close`), once its
        output is out, which a client that reads nothing never takes: kept till it is lost,
        cut after LINGER. (Most are lost a loop turn later, their output all out.)"""
        self._keep(session, transport, asyncio.get_running_loop().time() + LINGER)

    def _keep(self, session: S, transport: asyncio.Transport, until: float) -> None:
        """Keep the connection of a session that ended until it is lost (`lost`), or cut at
        `until` (loop time, no earlier than any kept before) by `_cut_lingering`; one kept
        already keeps its time. The kernel's bound on what it holds unread is set now
        (`flow.bound_unread`): a TLS client's close_notify has its transport closing before
        the door sees it."""
        bound_unread(transport)
        if session in self._closing:
            return
        self._closing[session] = (transport, until)
        if self._linger is None:
            self._linger = asyncio.get_running_loop().call_at(until, self._cut_lingering)

    def _cut_lingering(self) -> None:
        """Cut the kept connections past their time (their clients never read their output:
        counted as dropped for not reading), and come back at the next one's."""
        self._linger = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        late = []
        for session, (_, until) in self._closing.items():  # oldest first
            if until > now:
                self._linger = loop.call_at(until, self._cut_lingering)
                break
            late.append(session)
        for session in late:
            transport, _ = self._closing.pop(session)
            reset(transport)  # lost on the next loop turn: its address's count returned; what
            # it left unread goes from the kernel too
            self.metrics.dropped_clients.labels(session.door).inc()
            self.lingered.count(session.ip, f"nothing read for {LINGER:g} s")

    def lost(self, session: S) -> None:
        """A session's connection is lost (every one's: most were never in `_closing`)."""
        if self._closing:
            self._closing.pop(session, None)

    async def gone(self, which: Callable[[S], bool]) -> None:
        """Wait until the sessions that `which` picks among those still departing are gone
        (e.g. the owner of a nick a newcomer wants; those who were in a room someone joins)."""
        if not self._departing and self._leaving_now is None and not self._hung_up:
            return  # (the common case: every PRIVMSG to a nick asks)
        waiting = [s for s in self._departing if which(s)]
        waiting += [s for s, _ in self._hung_up if which(s)]  # they depart in a turn or two
        if self._leaving_now is not None and which(self._leaving_now):
            waiting.append(self._leaving_now)
        if not waiting:
            return
        loop = asyncio.get_running_loop()
        futures = []
        for s in waiting:
            f = self._awaited.get(s)
            if f is None:
                f = self._awaited[s] = loop.create_future()
            futures.append(f)
        await asyncio.wait(futures)

    async def _log_out(self, session: S, log_out: bool) -> None:
        """What a session's departure costs the door and the core (each door's own)."""

    async def _work_off(self) -> None:
        loop = asyncio.get_running_loop()
        departing = self._departing
        log_outs = self._log_outs
        awaited = self._awaited
        try:
            while departing:
                until = loop.time() + LOGOUT_SLICE
                while True:  # at least one per slice, then as many as fit
                    session = departing.popleft()
                    self._leaving_now = session
                    try:
                        await self._log_out(session, log_outs.popleft())
                    except Exception as e:  # one failed logout must not strand the rest
                        self._log.warning("logout of %s failed: %s", session.user_key, e)
                    finally:
                        self._leaving_now = None
                        if awaited and (done := awaited.pop(session, None)) is not None:
                            done.set_result(None)
                        if not self.sessions:
                            self._none_left.set()
                    if not departing or loop.time() >= until:
                        break
                await asyncio.sleep(0)  # let the loop poll sockets between slices
        finally:
            self._departures = None
            if self._holding_gc:
                self._holding_gc = False
                _release_gc()

    def drain(self, text: str) -> None:
        """Stop accepting and ask every client to reconnect (to another node)."""
        for server in self._servers:
            server.close()
        for s in list(self.sessions):
            s.drain(text)

    async def shutdown(self, grace: float) -> None:
        """Stop accepting, let queued output drain for up to `grace` seconds, then close.
        TLS handshakes not done are cut at once: they have no session to tell."""
        for server in self._servers:
            server.close()
        self._handshakes.cut()
        self.refusals.tally.stop()
        self.cuts.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # transports offer no "drained" event, so poll them briefly
        while loop.time() < deadline and any(s.output_pending() for s in self.sessions):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for s in list(self.sessions):
            self._close_for_shutdown(s)
        while self._hung_up:  # no need to wait for the next turns
            self._close_our_side(*self._hung_up.popleft(), loop.time() + LINGER)
        # first the departures (those whose clients read nothing are cut): a server's
        # `wait_closed` waits for every connection it accepted to be lost, which a client
        # that reads nothing never lets happen on its own (a stop hung so in CI)
        await self._departed(DEPART_GRACE)
        for transport, _ in list(self._closing.values()):  # hung up, output still unread
            reset(transport)  # lost on the next loop turn
        if self._linger is not None:  # none left to cut
            self._linger.cancel()
            self._linger = None
        self.lingered.stop()
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):  # a guard: all are lost by now
                for server in self._servers:
                    await server.wait_closed()
        except TimeoutError:
            self._log.warning("connections still open at shutdown")
        if self._handlers:  # a command still running after the grace is cancelled
            _, late = await asyncio.wait(self._handlers, timeout=DEPART_GRACE)
            for handler in late:
                handler.cancel()
        # a task may start another (a handler's end, a logout: the departures' task)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):  # a guard, as above
                while self._tasks or self._handlers:
                    await asyncio.gather(*self._tasks, *self._handlers, return_exceptions=True)
        except TimeoutError:
            running = [*self._tasks, *self._handlers]
            self._log.warning("%d tasks still running at shutdown: cancelled", len(running))
            for task in running:
                task.cancel()
            # and awaited (within a bound): one let run on into the store's close would
            # keep a store connection past it (core/tasks.py)
            if running:
                _, left = await asyncio.wait(running, timeout=HANDSHAKE_TIMEOUT)
                if left:
                    self._log.warning("%d tasks still running after their cancel", len(left))

    async def _departed(self, grace: float) -> None:
        """Wait until every closed session has departed: logged out by `_work_off`, which
        starts only once a connection is lost (a loop turn after its close, or when its output
        is out), so a stop would otherwise go on to close the store under those logouts. Those
        still connected after `grace` (their clients read nothing) are cut; cut, each is lost
        on the next loop turn."""
        if not self.sessions:
            return
        self._none_left.clear()
        try:
            async with asyncio.timeout(grace):
                await self._none_left.wait()
            return
        except TimeoutError:
            for s in list(self.sessions):
                s.cut()
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):  # a guard: cut, they are lost at once
                await self._none_left.wait()
        except TimeoutError:
            self._log.warning("%d sessions did not depart at shutdown", len(self.sessions))

    def _close_for_shutdown(self, session: S) -> None:
        session.close("server shutdown")
