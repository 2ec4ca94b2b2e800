"""One client asking the same read many times at once: how a read budget that takes a little
before reading and pays the rest after is outrun (the parallel-read tests, stop 45)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def asked_at_once(
    client: httpx.AsyncClient, path: str, times: int = 30, **request: Any
) -> list[httpx.Response]:
    """`times` GETs of `path`, all in flight together."""
    return list(await asyncio.gather(*(client.get(path, **request) for _ in range(times))))


def answered(responses: list[httpx.Response]) -> list[httpx.Response]:
    """The answered ones; every other one must have been refused for the budget (429)."""
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    return [r for r in responses if r.status_code == 200]
