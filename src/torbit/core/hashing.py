"""Password hashing (argon2id) on a bounded pool of worker threads.

argon2 is slow and memory-hard on purpose (64 MiB and ~100 ms of a core per hash by
default), so it must neither run on the event loop nor pile up without bound: a flood of
registrations or logins would otherwise stall the loop or take the machine's memory (one
running hash holds its `memory_cost`). The hasher (core/argon2id.py: libsodium or
argon2-cffi) releases the GIL while hashing, so `workers` threads hash in parallel; at most
`queue` more jobs may wait, and a job beyond that is refused at once with Overloaded (503
with Retry-After; a line on telnet) instead of waiting in memory. Memory for hashing is thus
at most `workers` x `memory_cost`.

Registrations hash at low priority: they may only use the first half of the slots, so a
flood of sign-ups (unauthenticated by nature) cannot take the pool from people logging in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from torbit.errors import Overloaded

T = TypeVar("T")

BUSY = "the server is busy checking passwords: try again in a moment"


class PasswordHashing:
    def __init__(self, hasher: PasswordHasher, *, workers: int = 2, queue: int = 32) -> None:
        self._hasher = hasher
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="argon2")
        self.limit = max(1, workers) + max(0, queue)
        self._jobs = 0  # submitted and not finished (running or queued), on the loop's thread
        self.done = 0  # jobs finished so far (for tests and metrics)

    @property
    def jobs(self) -> int:
        return self._jobs

    async def hash(self, password: str, *, low_priority: bool = False) -> str:
        limit = max(1, self.limit // 2) if low_priority else self.limit
        return await self._run(limit, self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if the password matches; a malformed stored hash never matches."""
        return await self._run(self.limit, self._verify, password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        """The hash was made with other cost parameters than the configured ones."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return False

    def hash_now(self, password: str) -> str:
        """Hash on the calling thread (start-up only: the dummy hash for unknown names)."""
        return self._hasher.hash(password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _run(self, limit: int, fn: Callable[..., T], *args: str) -> T:
        """`fn(*args)` on a worker thread. Its outcome comes back to the loop in one
        `call_soon_threadsafe` that also counts the job done: one wake-up of the loop per
        hash (`asyncio.wrap_future` and a done callback that counted took two)."""
        if self._jobs >= limit:
            raise Overloaded(BUSY, retry_after=1.0)
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = loop.create_future()

        def work() -> None:  # on the worker thread
            try:
                settle = functools.partial(self._settle, outcome, fn(*args))
            except BaseException as e:  # handed to the caller, as wrap_future would
                settle = functools.partial(self._failed, outcome, e)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle)

        self._jobs += 1
        try:
            job = self._pool.submit(work)
        except RuntimeError:  # shut down
            self._jobs -= 1
            raise Overloaded(BUSY, retry_after=1.0) from None

        def never_ran(job: Future[None]) -> None:
            # cancelled while queued (its caller gave up, or `close`): `work` will not count it.
            # The job comes as the argument, not from the enclosing scope: a closure over it,
            # held by the job's own callbacks, made each hash a cycle of ~18 objects that only
            # the cyclic collector freed (10,000 logins: 180,000, collections of the young
            # generation with the loop stopped)
            if job.cancelled():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._failed, outcome, None)

        job.add_done_callback(never_ran)
        try:
            return await outcome
        except asyncio.CancelledError:
            job.cancel()  # queued: it never runs; running: it is counted once done
            raise

    def _settle(self, outcome: asyncio.Future[T], result: T) -> None:
        """On the loop's thread, the job done: counted, and its caller (if still waiting)
        gets the result. A job is counted until its thread is done with it."""
        self._count_done()
        if not outcome.done():
            outcome.set_result(result)

    def _failed(self, outcome: asyncio.Future[T], error: BaseException | None) -> None:
        """The job raised `error`, or (None) was cancelled before it ran."""
        self._count_done()
        if outcome.done():  # the caller gave up
            return
        if error is None:
            outcome.cancel()
        else:
            outcome.set_exception(error)

    def _count_done(self) -> None:
        self._jobs -= 1
        self.done += 1
