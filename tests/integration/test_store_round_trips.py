"""How many store statements the hot paths cost, counted on the real SQLite engine
(SQLAlchemy's cursor events): a telnet login from the name prompt to being in the default
room (a registration and a returning user), and an HTTP member's classic send and receive. A
count, never a time; the revocation poll, which runs on its own timer, is left out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiosqlite
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import ServerFactory
from tests.helpers.http import basic, bearer, eventually, http_client, login, register, ws_url
from tests.helpers.irc import RawIrc
from tests.helpers.statements import PERIODIC, Statements
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.backends.store.sqlite_driver import run_committed
from torbit.core.retention import Retention
from torbit.core.revocation import Revocations

# The login proper, then joining the default room: the room with the user's standing in it
# (one query, was two), the recent history; a first join also checks the rooms-per-user
# limit (the rooms held, one query, was two), adds the membership and reads the standing
# again, so that a ban made meanwhile is not undone by the join (core/membership.py).
# A registration: the name looked up (its account or a look-alike, one query), the account
# inserted unless the name or a look-alike was taken since (one statement: the look-up is not
# repeated before the hash): 2 (was 8, then 4, then 3: the user with their ignores read again
# after the insert; the login now takes the user as inserted, core/sessions.py's Fresh).
# the first retention sweep runs at start (its writes are handed to the driver's thread): the
# hand-off counts wait for its last write
FIRST_SWEEP_ENDS = "audit_log.at <"
# a statement and its commit handed to aiosqlite's thread, as HandOffs names it (the asserts
# spelled it "_run_committed", its name until 0068ec97, and so held whatever was handed off)
RUN_COMMITTED = run_committed.__name__
NEW_USER = 2 + 5
# Returning: the name looked up, the password's hash read, the user with their ignores: 3
# (was 4: the user and the ignores were two reads); then the room they were in when they
# left (core/comeback.py), joined as the default room was, and what came there since they
# left it: their read cursor and the count (was 3 + 2, every login to the default room);
# then the private messages that came since their last session (stop 54): the inbox's
# cursor, the account (its creation bounds what is theirs), the count.
RETURNING_USER = 3 + 1 + 2 + 2 + 3
# A telnet logout notes the room it was in (where the next login goes) and marks it read
# (core/comeback.py), after the logout, on a task of its own: the room noted on the
# membership, the cursor moved to the newest message handed out (no read of the room's newest
# messages since stop 54: was 3).
LOGOUT = 2


async def logged_out(app: App, client: TelnetClient) -> None:
    """Closed, and its read cursor move written (`Comeback.idle`)."""
    assert app.core is not None
    comeback, subscriptions = app.core.comeback, app.core.subscriptions
    await client.close()
    await eventually(lambda: comeback.idle and not subscriptions.online("lobby"))


async def first_sweep_written(app: App) -> None:
    """Wait for the first retention sweep's last write, handed to the driver's thread; call it
    at once after the server starts (the sweep begins at the loop's next turn)."""
    assert app.core is not None
    with Statements(app.core.store.engine) as startup:  # type: ignore[attr-defined]
        await eventually(lambda: any(FIRST_SWEEP_ENDS in sql for sql in startup.seen))


async def logged_in(port: int, name: str) -> TelnetClient:
    client = await TelnetClient.connect(port)
    await client.login(name)
    return client


async def test_a_telnet_login_makes_few_store_round_trips(make_server: ServerFactory) -> None:
    app = await make_server(chat={"history_on_join": 5})
    assert app.telnet_port is not None and app.core is not None
    engine = app.core.store.engine  # type: ignore[attr-defined]
    with Statements(engine) as startup:
        first = await logged_in(app.telnet_port, "warm")  # the default room exists from now on
        await eventually(lambda: any(FIRST_SWEEP_ENDS in sql for sql in startup.seen))
    await logged_out(app, first)

    with Statements(engine, ignore=PERIODIC) as new:
        client = await logged_in(app.telnet_port, "newcomer")
    with Statements(engine, ignore=PERIODIC) as logout:
        await logged_out(app, client)
    with Statements(engine, ignore=PERIODIC) as returning:
        client = await logged_in(app.telnet_port, "newcomer")
        # what the login says under its join (the count) comes after the "you are in" line:
        # /help, answered without the store, is answered after it
        client.send("/help")
        await client.expect(r"^\* any other line is a message")
    await client.close()
    assert len(new) == NEW_USER, new.seen
    assert logout.kinds() == ["UPDATE", "INSERT"], logout.seen
    assert len(returning) == RETURNING_USER, returning.seen
    assert len(logout) == LOGOUT


async def test_an_irc_guest_login_writes_and_reads_little(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An IRC guest's registration (NICK, USER) to the end of the MOTD: the guest account
    inserted (one statement, on the loop's thread: no hand-off), and the login takes it as
    inserted (no read of the user with their ignores; on main: 2 statements, the insert
    handed to aiosqlite's thread)."""
    app = await make_server(irc={"guests": True})
    assert app.core is not None
    engine = app.core.store.engine  # type: ignore[attr-defined]
    with Statements(engine) as startup:
        warm = await RawIrc.connect(app)
        await warm.register("warm")
        await eventually(lambda: any(FIRST_SWEEP_ENDS in sql for sql in startup.seen))
    with Statements(engine, ignore=PERIODIC) as guest, HandOffs(monkeypatch) as handoffs:
        client = await RawIrc.connect(app)
        await client.register("guest1")
    await client.close()
    await warm.close()
    assert guest.kinds() == ["INSERT"], guest.seen
    assert RUN_COMMITTED not in handoffs.seen or handoffs.waited(), handoffs.seen


async def test_http_sends_and_receives_of_a_member_ask_the_store_little(
    make_server: ServerFactory,
) -> None:
    """Once the node knows the membership (core/membercache.py) and the Basic credentials
    (auth.py), a classic send makes no statement before the message's own commit (aiosqlite's
    executemany below the engine, not counted), and a receive reads the cursor and the
    messages and moves the cursor, one compare-and-set UPDATE (the ignore list, read once, is
    kept by the node and forgotten by its change events: core/ignores.py)."""
    app = await make_server()
    assert app.http_port is not None and app.core is not None
    engine = app.core.store.engine  # type: ignore[attr-defined]
    async with http_client(app) as client:
        await register(client, "alice")
        auth = basic("alice")
        for text in ("first", "second"):  # the first learns the membership
            r = await client.post("/send/lobby/alice", content=text, auth=auth)
            assert r.status_code == 201, r.text
        await client.get("/receive/lobby/alice", auth=auth)
        with Statements(engine, ignore=PERIODIC) as send:
            r = await client.post("/send/lobby/alice", content="third", auth=auth)
            assert r.status_code == 201, r.text
        with Statements(engine, ignore=PERIODIC) as receive:
            r = await client.get("/receive/lobby/alice", auth=auth)
        assert [m["text"] for m in r.json()["messages"]] == ["third"]
    assert send.seen == []
    assert receive.kinds() == ["SELECT", "SELECT", "UPDATE"], receive.seen


async def test_a_receive_with_a_bearer_token_asks_the_store_no_more_than_basic(
    make_server: ServerFactory,
) -> None:
    """A client polling `GET /receive` with a token (`POST /api/v1/sessions`) pays the same
    three statements as one whose Basic credentials are remembered: the token found live
    once is remembered by the node (auth.py's TokenCache), so its owner, the account and the
    token's expiry are not read again (main: 5 a page, the token and the account each time)."""
    app = await make_server()
    assert app.http_port is not None and app.core is not None
    engine = app.core.store.engine  # type: ignore[attr-defined]
    async with http_client(app) as client:
        await register(client, "alice")
        token = bearer(await login(client, "alice"))
        r = await client.post("/send/lobby/alice", content="first", headers=token)
        assert r.status_code == 201, r.text
        await client.get("/receive/lobby/alice", headers=token)
        r = await client.post("/send/lobby/alice", content="second", headers=token)
        assert r.status_code == 201, r.text
        with Statements(engine, ignore=PERIODIC) as receive:
            r = await client.get("/receive/lobby/alice", headers=token)
        assert [m["text"] for m in r.json()["messages"]] == ["second"]
    assert receive.kinds() == ["SELECT", "SELECT", "UPDATE"], receive.seen


async def test_a_woken_long_poll_answers_from_the_message_that_woke_it(
    make_server: ServerFactory,
) -> None:
    """A parked `GET /receive?wait=` reads the cursor and the messages before it starts
    listening, then the messages after its own last read (not the cursor again); woken by
    the next message, it answers from that message (core/subscriptions.py's Wakeup) and only
    moves the cursor: one statement, no read."""
    app = await make_server()
    assert app.http_port is not None and app.core is not None
    engine = app.core.store.engine  # type: ignore[attr-defined]
    subs = app.core.subscriptions
    async with http_client(app) as client, http_client(app) as sender:
        await register(client, "alice")
        auth = basic("alice")
        r = await client.post("/send/lobby/alice", content="first", auth=auth)
        assert r.status_code == 201, r.text
        await client.get("/receive/lobby/alice", auth=auth)  # the ignore list is kept from now
        with Statements(engine, ignore=PERIODIC) as parking:
            poll = asyncio.create_task(
                client.get("/receive/lobby/alice", params={"wait": 30}, auth=auth)
            )
            await eventually(lambda: len(parking) == 3 and subs.listener_count("lobby") == 1)
        assert parking.kinds() == ["SELECT"] * 3, parking.seen
        with Statements(engine, ignore=PERIODIC) as woken:
            r = await sender.post("/send/lobby/alice", content="wake", auth=auth)
            assert r.status_code == 201, r.text
            answer = await poll
        assert [m["text"] for m in answer.json()["messages"]] == ["wake"]
        assert woken.kinds() == ["INSERT"], woken.seen  # the cursor's move
        r = await client.get("/receive/lobby/alice", auth=auth)
        assert r.json()["messages"] == []  # the cursor moved over it


async def test_a_telnet_registration_hands_nothing_to_the_driver_thread(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the name prompt to being in the default room, a new telnet user's two writes
    (the account, the membership) are committed on the event loop's thread while SQLite's
    write lock is free (SqliteDialect.write_now), like its reads: no hand-off to aiosqlite's
    thread and back (on main: two, each a wake-up of that thread and of the loop, ~18 % of
    the loop's CPU in a login storm)."""
    app = await make_server()
    assert app.telnet_port is not None and app.core is not None
    engine = app.core.store.engine  # type: ignore[attr-defined]
    with Statements(engine) as startup:
        first = await logged_in(app.telnet_port, "warm")  # the default room exists from now on
        await logged_out(app, first)
        await eventually(lambda: any(FIRST_SWEEP_ENDS in sql for sql in startup.seen))
    with HandOffs(monkeypatch) as handoffs:
        client = await logged_in(app.telnet_port, "newcomer")
        await logged_out(app, client)  # its read cursor's move: on the loop's thread too
    assert RUN_COMMITTED not in handoffs.seen or handoffs.waited(), handoffs.seen
    assert await app.core.store.rooms_held("newcomer") == ["lobby"]  # committed


# The tasks whose periodic work may hand calls to aiosqlite's thread inside any window (app.py
# starts them), told by their coroutine: most hand-offs carry no SQL (a cursor made, a
# commit, a reset). The backends' probe, every PROBE_SECONDS (with it every 0.05 s, windows
# saw its `SELECT 1`'s ['cursor'], and the rollback of its connection's close), the
# revocation poll and its mark (every 5 s), the retention sweep.
PERIODIC_TASKS = {
    f"{App._probe.__qualname__}.<locals>.probe",
    Revocations.run.__qualname__,
    Retention.run.__qualname__,
}


# SQLAlchemy closes a connection (`async with` its end: the pool's reset, a rollback) on a
# task of its own: that hand-off is its last user's
CLOSING = AsyncConnection.close.__qualname__


def running() -> str:
    """The coroutine of the task running now."""
    task = asyncio.current_task()
    return "" if task is None else getattr(task.get_coro(), "__qualname__", "")


class HandOffs:
    """Counts the calls queued to aiosqlite's thread (each a wake-up of that thread and of the
    event loop) while inside the `with`: its one queueing method, wrapped; those of another
    task's periodic work (PERIODIC_TASKS) are left out."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.seen: list[str] = []
        self.periodic: list[str] = []  # those of PERIODIC_TASKS

    def __enter__(self) -> HandOffs:
        queue: Any = aiosqlite.Connection._execute
        seen, periodic = self.seen, self.periodic
        theirs: set[aiosqlite.Connection] = set()  # last used by a periodic task

        async def counted(conn: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            name, task = getattr(fn, "__name__", repr(fn)), running()
            if task in PERIODIC_TASKS:  # on a loaded machine one may land inside
                theirs.add(conn)
                periodic.append(name)
            elif task == CLOSING and conn in theirs:
                periodic.append(name)
            else:
                theirs.discard(conn)
                seen.append(name)
            return await queue(conn, fn, *args, **kw)

        self._monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        return self

    def __exit__(self, *exc: object) -> None:
        self._monkeypatch.undo()

    def waited(self) -> bool:
        """Another task's periodic write (the revocation poll's mark, every 5 s; the
        retention sweep) was committed in the window: while it held SQLite's write lock, a
        write of the work counted found SQLite busy and rightly waited its turn on the
        driver's thread (seen with the mark every 0.2 s)."""
        return "commit" in self.periodic


async def test_a_woken_long_poll_costs_one_hand_off_to_the_driver(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From `POST /send` to the answer of the poll it wakes, the SQLite thread is not asked:
    the message's insert with its commit (was two hand-offs, then one) and the cursor's move
    (SqliteDialect.write_now; was two, then one) are committed on the event loop's thread,
    the message by SqliteDialect.commit_now."""
    app = await make_server()
    await first_sweep_written(app)
    async with http_client(app) as client, http_client(app) as sender:
        await register(client, "alice")
        auth = basic("alice")
        r = await client.post("/send/lobby/alice", content="first", auth=auth)
        assert r.status_code == 201, r.text
        await client.get("/receive/lobby/alice", auth=auth)
        assert app.core is not None
        subs = app.core.subscriptions
        engine = app.core.store.engine  # type: ignore[attr-defined]
        with Statements(engine, ignore=PERIODIC) as parking:  # parked: its reads are done
            poll = asyncio.create_task(
                client.get("/receive/lobby/alice", params={"wait": 30}, auth=auth)
            )
            await eventually(lambda: len(parking) == 3 and subs.listener_count("lobby") == 1)
        with HandOffs(monkeypatch) as handoffs:
            r = await sender.post("/send/lobby/alice", content="wake", auth=auth)
            assert r.status_code == 201, r.text
            answer = await poll
        assert [m["text"] for m in answer.json()["messages"]] == ["wake"]
        assert handoffs.seen == [] or handoffs.waited(), handoffs.seen
        r = await client.get("/receive/lobby/alice", auth=auth)
        assert r.json()["messages"] == []


async def test_a_classic_receive_hands_nothing_to_the_driver_thread(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member's `GET /receive` page, its read cursor's first setting and every later
    compare-and-set move are committed on the event loop's thread while SQLite's write lock
    is free (SqliteDialect.write_now), like the cursor and page reads: no lease of the pooled
    connection, no hand-off to aiosqlite's thread and back (on main: one for each move, with
    the pool's lease and reset ~40 % of the page's server CPU, bench/JOURNAL.md). The pages
    are the same: in order, each once."""
    app = await make_server()
    assert app.core is not None
    await first_sweep_written(app)
    async with http_client(app) as client:
        await register(client, "alice", "bob")
        alice, bob = basic("alice"), basic("bob")
        for i in range(5):
            r = await client.post("/send/lobby/alice", content=f"m{i}", auth=alice)
            assert r.status_code == 201, r.text
        r = await client.get("/receive/lobby/alice", auth=alice)  # the ignore list is kept
        assert [m["text"] for m in r.json()["messages"]] == [f"m{i}" for i in range(5)]
        await client.get("/receive/lobby/bob", params={"limit": 1}, auth=bob)  # a member now
        pages = []
        with HandOffs(monkeypatch) as handoffs:
            for _ in range(3):
                r = await client.get("/receive/lobby/bob", params={"limit": 2}, auth=bob)
                assert r.status_code == 200, r.text
                pages.append([m["text"] for m in r.json()["messages"]])
        assert pages == [["m1", "m2"], ["m3", "m4"], []]
        assert RUN_COMMITTED not in handoffs.seen or handoffs.waited(), handoffs.seen
        assert await app.core.store.get_cursor("bob", "lobby") == 5


async def opened_and_subscribed(app: Any, token: str) -> ClientConnection:
    """A WebSocket opened with a bearer token, in #lobby (its "you are in" notice read)."""
    ws = await connect(ws_url(app), additional_headers=bearer(token))
    await ws.send(json.dumps({"type": "subscribe", "room": "lobby"}))
    async with asyncio.timeout(10):
        while "you are in #lobby" not in json.loads(await ws.recv()).get("text", ""):
            pass
    return ws


async def test_a_token_websocket_opens_and_subscribes_with_few_reads(
    make_server: ServerFactory,
) -> None:
    """A socket opened with a token and subscribed to a room its user belongs to: the token
    (one read: a handshake reads it in the store even when the node remembers it, ws.py),
    its user (one), the user with their ignores once attached (one), the room with the
    user's standing in it (one). The token's expiry (the socket is closed then, ws.py's
    Expiries) is not read again: the node remembers it with the token it found live
    (tokencache.py; was a read). The token is not read again once the session is attached
    (it was: the revocations applied here since the socket's own check are counted instead,
    core/sessions.py), and never through Core (was ~1 ms of CPU a read)."""
    app = await make_server(chat={"history_on_join": 0})
    assert app.core is not None
    engine = app.core.store.engine  # type: ignore[attr-defined]
    async with http_client(app) as client:
        await register(client, "alice")
        token = await login(client, "alice")
        first = await opened_and_subscribed(app, token)  # the membership is made here
        await first.close()
        with Statements(engine, ignore=PERIODIC) as opened:
            ws = await opened_and_subscribed(app, token)
        await ws.close()
    assert [sql.count("tokens") for sql in opened.seen] == [1, 0, 0, 0], opened.seen
    assert "user_key FROM tokens" in opened.seen[0], opened.seen


async def test_a_token_websocket_and_its_first_join_never_wait_for_the_driver(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a socket with a token and joining a room for the first time (the membership
    added) runs on the event loop's thread: reads on SQLite's read connection, the
    membership's insert committed at once when SQLite is free (write_now); main handed the
    token's two reads (through Core, several hand-offs each) and the insert to aiosqlite's
    thread."""
    app = await make_server(chat={"history_on_join": 0})
    async with http_client(app) as client:
        await register(client, "alice", "bob")
        first = await opened_and_subscribed(app, await login(client, "alice"))  # the room
        token = await login(client, "bob")
        with HandOffs(monkeypatch) as handoffs:
            ws = await opened_and_subscribed(app, token)
        await ws.close()
        await first.close()
    assert handoffs.seen == [] or handoffs.waited(), handoffs.seen
