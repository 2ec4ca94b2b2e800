"""A method's calls held at a gate, for the races of acts under way: an act runs up to (or
just past) one call of a store's or a service's method and waits there while the test does
something meanwhile (deletes the room, takes a right away, revokes a login), then is let go.
Ordered by events, never timed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest


def every_call(*args: Any, **kwargs: Any) -> bool:
    return True


class HeldCall:
    """`owner.name` patched so that a call `when` picks (given the call's arguments; by
    default every call) sets `reached` and waits until `let_go()`; the others pass straight
    through. `once`: only the first call picked is held (the act's; the ones after it pass).
    `after`: the call is held once it has answered instead of before it runs. `then` is
    called as each held call has answered (to note the order in which writes landed)."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        owner: object,
        name: str,
        *,
        when: Callable[..., bool] = every_call,
        once: bool = False,
        after: bool = False,
        then: Callable[[], object] | None = None,
    ) -> None:
        self.reached, self.go = asyncio.Event(), asyncio.Event()
        real = getattr(owner, name)

        async def held(*args: Any, **kwargs: Any) -> Any:
            if not when(*args, **kwargs) or (once and self.reached.is_set()):
                return await real(*args, **kwargs)
            if not after:
                await self._wait()
            answer = await real(*args, **kwargs)
            if after:
                await self._wait()
            if then is not None:
                then()
            return answer

        monkeypatch.setattr(owner, name, held)

    async def _wait(self) -> None:
        self.reached.set()
        await self.go.wait()

    async def until_reached(self, within: float = 30) -> None:
        """Until a call is held; `within` seconds is only a guard against a hang."""
        async with asyncio.timeout(within):
            await self.reached.wait()

    def let_go(self) -> None:
        """The held call goes on, and the calls after it are no longer held."""
        self.go.set()
