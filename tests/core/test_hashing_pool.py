"""The password-hashing pool's hand-off between the event loop and its worker threads:
how often a hash wakes the loop (counted, never timed), what a caller that gives up or a
failing job leaves behind, and that a hash leaves nothing for the cyclic collector."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher

from torbit.core.hashing import PasswordHashing

PW = "correct horse battery"


def cheap() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def wake_ups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the callbacks other threads hand to the running loop: each is a write
    to its self-pipe, waking it (asyncio's `call_soon_threadsafe`)."""
    loop = asyncio.get_running_loop()
    own = threading.get_ident()
    seen: list[str] = []
    original = loop.call_soon_threadsafe

    def counted(callback: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Handle:
        if threading.get_ident() != own:
            seen.append(getattr(callback, "__name__", type(callback).__name__))
        return original(callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    return seen


async def test_a_hash_and_a_check_each_wake_the_loop_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The outcome and the job's count come back in one hand-off (on main: two, the
    future's result through `wrap_future` and the pool's count in a done callback)."""
    pool = PasswordHashing(cheap(), workers=2, queue=4)
    try:
        seen = wake_ups(monkeypatch)
        stored = await pool.hash(PW)
        assert len(seen) == 1, seen
        assert await pool.verify(stored, PW) is True
        assert await pool.verify(stored, "wrong") is False
        assert len(seen) == 3, seen
        assert (pool.jobs, pool.done) == (0, 3)
    finally:
        pool.close()


class Broken(PasswordHasher):
    """Fails its first hash."""

    failed = False

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the hasher broke")
        return super().hash(password, salt=salt)


async def test_a_failing_job_raises_to_its_caller_and_is_counted() -> None:
    pool = PasswordHashing(Broken(time_cost=1, memory_cost=8, parallelism=1), workers=1, queue=1)
    try:
        with pytest.raises(RuntimeError, match="the hasher broke"):
            await pool.hash(PW)
        assert (pool.jobs, pool.done) == (0, 1)
        assert await pool.verify(await pool.hash(PW), PW) is True  # the pool still works
    finally:
        pool.close()


async def test_a_caller_that_gives_up_frees_its_queued_slot_and_others_get_theirs() -> None:
    """A job whose caller was cancelled while it waited in the queue never runs; one already
    running is counted until its thread is done with it; the callers still waiting are
    answered."""
    slow = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    pool = PasswordHashing(slow, workers=1, queue=3)
    try:
        running = asyncio.ensure_future(pool.hash("first"))
        queued = asyncio.ensure_future(pool.hash("second"))
        last = asyncio.ensure_future(pool.hash("third"))
        await asyncio.sleep(0)
        assert pool.jobs == 3
        queued.cancel()
        running.cancel()
        assert (await last).startswith("$argon2id$")
        with pytest.raises(asyncio.CancelledError):
            await queued
        with pytest.raises(asyncio.CancelledError):
            await running
        async with asyncio.timeout(30):
            while pool.jobs:  # the cancelled running job is counted until it ends
                await asyncio.sleep(0.01)
        assert pool.done == 3
    finally:
        pool.close()


async def test_a_pool_closed_under_a_waiting_caller_cancels_it() -> None:
    slow = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    pool = PasswordHashing(slow, workers=1, queue=2)
    running = asyncio.ensure_future(pool.hash("first"))
    queued = asyncio.ensure_future(pool.hash("second"))
    await asyncio.sleep(0)
    pool.close()  # the queued job is dropped; the running one finishes
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert (await running).startswith("$argon2id$")
    assert pool.jobs == 0


async def test_a_hash_leaves_no_cycle_for_the_collector() -> None:
    """Each hash's job was held in a cycle with its own done callback (a closure over it):
    ~18 objects a login that only a collection of the young generation, with the loop
    stopped, freed (a storm of 10,000 logins: 180,000). Counted: no job among what a
    collection finds unreachable."""
    pool = PasswordHashing(cheap(), workers=1)
    try:
        made = await pool.hash(PW)
        gc.collect()
        for _ in range(20):
            assert await pool.verify(made, PW)
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept, to be counted
        try:
            gc.collect()
            left = [o for o in gc.garbage if isinstance(o, concurrent.futures.Future)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert left == []
    finally:
        pool.close()
