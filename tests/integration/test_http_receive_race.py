"""Several `GET /receive` of one user in one room at once, on SQLite and PostgreSQL.

The semantics (core/messaging.py): receives that read from the read cursor are taken one
after the other for a (user, room) on a node, so parallel ones get disjoint pages, none
delivered twice, none skipped. A parked long poll is answered with what arrived after its
own last read, whoever moved the cursor meanwhile: each of a user's waiting requests (tabs,
devices) hears the message that woke them, and none of them answers empty because another
was quicker. The cursor only moves forward.

The race these pin down: a user's parked polls woken together by one send each read the
shared cursor, and the later ones found it moved, found nothing and waited out their time
(tests/security/test_http_longpolls.py failed so in a CI once the page was read without a
thread hand-off); parallel receives all read the same cursor and got the same page.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.contract.conftest import PgDatabases, pg_databases  # noqa: F401 (the fixture)
from tests.helpers.http import PASSWORD, basic, eventually, http_client, texts
from torbit.app import App

POLLS = 6  # parked polls of one user (limits.long_polls_per_user is 8)
WAIT = 8  # seconds: a poll that was not answered by a send answers empty after this


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
async def app(request: pytest.FixtureRequest, make_server: ServerFactory) -> App:
    """A server on SQLite, or on a fresh PostgreSQL database; alice and bob in #hall."""
    storage: dict[str, Any] = {}
    if request.param == "postgresql":
        databases: PgDatabases = request.getfixturevalue("pg_databases")
        storage = {"url": databases.create()}
    server = await make_server(storage=storage) if storage else await make_server()
    assert server.core is not None
    for name in ("alice", "bob"):
        await server.core.accounts.register(name, PASSWORD)
        await server.core.membership.become_member(name, "hall")
    return server


def waiting(app: App, room: str = "hall") -> int:
    assert app.core is not None
    return len(app.core.subscriptions.listeners(room))


async def send(app: App, *lines: str) -> None:
    async with http_client(app) as c:
        for line in lines:
            r = await c.post("/send/hall/bob", content=line, auth=basic("bob"))
            assert r.status_code == 201, r.text


async def parked_polls(app: App, n: int) -> list[asyncio.Task[list[str]]]:
    """n long polls of alice in #hall, each on a connection of its own, once all wait."""

    async def poll() -> list[str]:
        async with http_client(app) as c:
            r = await c.get("/receive/hall/alice", params={"wait": WAIT}, auth=basic("alice"))
            assert r.status_code == 200, r.text
            return texts(r.json())

    before = waiting(app)
    tasks = [asyncio.create_task(poll()) for _ in range(n)]
    await eventually(lambda: waiting(app) == before + n or any(t.done() for t in tasks))
    assert not any(t.done() for t in tasks)
    return tasks


async def receive(app: App, limit: int = 100) -> list[str]:
    async with http_client(app) as c:
        r = await c.get("/receive/hall/alice", params={"limit": limit}, auth=basic("alice"))
        assert r.status_code == 200, r.text
        return texts(r.json())


@pytest.mark.parametrize("cursor", [False, True], ids=["no-cursor", "cursor"])
async def test_every_parked_poll_of_a_user_hears_one_send(app: App, cursor: bool) -> None:
    if cursor:  # alice has read before: her polls park at a cursor
        await send(app, "before")
        assert await receive(app) == ["before"]
    polls = await parked_polls(app, POLLS)
    await send(app, "one")
    answers = await asyncio.gather(*polls)
    assert answers == [["one"]] * POLLS
    assert await receive(app) == []  # the cursor moved over it


@pytest.mark.parametrize("cursor", [False, True], ids=["no-cursor", "cursor"])
async def test_every_parked_poll_of_a_user_hears_several_sends(app: App, cursor: bool) -> None:
    lines = ["one", "two", "three", "four"]
    if cursor:
        await send(app, "before")
        assert await receive(app) == ["before"]
    polls = await parked_polls(app, POLLS)
    await send(app, *lines)
    answers = await asyncio.gather(*polls)
    for answer in answers:  # what had arrived when it answered, from the first on
        assert answer and answer == lines[: len(answer)], answers
    longest = max(len(a) for a in answers)
    assert await receive(app) == lines[longest:]  # nothing skipped, nothing twice


async def test_a_receive_meanwhile_does_not_rob_the_parked_polls(app: App) -> None:
    polls = await parked_polls(app, POLLS)
    await send(app, "one")
    mine = await receive(app)  # another tab reads at once, maybe before the polls answer
    assert mine in (["one"], [])
    assert await asyncio.gather(*polls) == [["one"]] * POLLS
    assert await receive(app) == []


@pytest.mark.parametrize("limit", [1, 3, 100])
async def test_parallel_receives_take_disjoint_pages(app: App, limit: int) -> None:
    lines = [f"m{i}" for i in range(7)]
    await send(app, *lines)
    pages = await asyncio.gather(*(receive(app, limit) for _ in range(4)))
    got = sorted((m for page in pages for m in page), key=lines.index)
    assert got == lines[: 4 * limit], pages  # each once, none skipped
    assert sum(1 for page in pages if page) == min(4, -(-len(lines) // limit)), pages
    assert await receive(app) == lines[4 * limit :]
