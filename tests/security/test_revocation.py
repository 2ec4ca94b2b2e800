"""Issue 10, item 3: open sessions survived a logout, a password change and an account
deletion (a user deleted with `torbit user del` went on posting).

Now each session remembers what it logged in with, and a revocation closes exactly those, on
every node: a logout closes the WebSockets opened with that token; a password change (any
door, the CLI included) and a deletion close all the sessions of the old password. Telnet
gets a line and is closed; a WebSocket is closed with code 4001 and the reason. The CLI runs
in another process: it writes the revocation to the store, which nodes poll every 0.5 s."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CHEAP_ARGON2, ServerFactory
from tests.helpers.http import bearer, change_password, login, register
from tests.scale.processes import NodeProcess
from tests.security.conftest import basic_header, closed, http_from, telnet_login, ws_from
from torbit.app import App
from torbit.frontends.http.ws_session import REVOKED


async def still_open(ws: object) -> None:
    """The socket still answers a ping frame of the protocol."""
    import json

    await ws.send(json.dumps({"type": "ping"}))  # type: ignore[attr-defined]
    async with asyncio.timeout(10):
        while json.loads(await ws.recv())["type"] != "pong":  # type: ignore[attr-defined]
            pass


async def telnet_closed_with(client: object, text: str) -> None:
    await client.expect(text)  # type: ignore[attr-defined]
    await client.lines_for(2)  # type: ignore[attr-defined]
    assert client.reader.at_eof()  # type: ignore[attr-defined]


async def test_logout_closes_the_websockets_of_that_token_only(server: App) -> None:
    async with http_from(server) as client:
        await register(client, "alice")
        one, two = await login(client, "alice"), await login(client, "alice")
        ws_one = await ws_from(server, bearer(one), logged_in=True)
        ws_one_query = await ws_from(server, {}, query=f"token={one}", logged_in=True)
        ws_two = await ws_from(server, bearer(two), logged_in=True)
        ws_basic = await ws_from(server, basic_header("alice"), logged_in=True)
        telnet = await telnet_login(server, "alice")
        r = await client.delete("/api/v1/sessions/current", headers=bearer(one))
        assert r.status_code == 204
        # the node had found `one` live (the sockets above) and remembers live tokens
        # (auth.py's TokenCache): the logout's revocation forgets it at once
        assert (await client.get("/api/v1/me", headers=bearer(one))).status_code == 401
        assert (await client.get("/api/v1/me", headers=bearer(two))).status_code == 200
    for ws in (ws_one, ws_one_query):
        code, reason, frames = await closed(ws)
        assert (code, reason) == (REVOKED, "you logged out: you are logged out")
        assert frames[-1]["text"] == "you logged out: you are logged out"
    for ws in (ws_two, ws_basic):
        await still_open(ws)
        await ws.close()
    telnet.send("/who")
    await telnet.expect("alice")
    await telnet.close()


async def test_a_password_change_closes_every_session_on_every_door(server: App) -> None:
    async with http_from(server) as client:
        await register(client, "alice", "bob")
        token = await login(client, "alice")
        telnet = await telnet_login(server, "alice")
        bob = await telnet_login(server, "bob")
        ws_token = await ws_from(server, bearer(token), logged_in=True)
        ws_basic = await ws_from(server, basic_header("alice"), logged_in=True)
        assert (await client.get("/api/v1/me", headers=basic_header("alice"))).status_code == 200
        r = await change_password(client, "new-secret", headers=bearer(token))
        assert r.status_code == 204
        for ws in (ws_token, ws_basic):
            code, reason, _ = await closed(ws)
            assert (code, reason) == (REVOKED, "your password was changed: you are logged out")
        await telnet_closed_with(telnet, r"^! your password was changed: you are logged out")
        await bob.expect(r"alice left #lobby")
        # the old password is refused at once, though it was just cached; the new one works
        r = await client.get("/api/v1/me", headers=basic_header("alice"))
        assert r.status_code == 401
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401
        fresh = await ws_from(server, basic_header("alice", "new-secret"))
        await still_open(fresh)
        await fresh.close()
    await bob.close()
    await telnet.close()


async def test_a_deleted_user_stops_posting_at_once(make_server: ServerFactory) -> None:
    app = await make_server()
    async with http_from(app) as client:
        await register(client, "alice", "bob")
    alice = await telnet_login(app, "alice")
    ws = await ws_from(app, basic_header("alice"), logged_in=True)
    bob = await telnet_login(app, "bob")
    assert app.core is not None
    await app.core.accounts.delete("alice")
    await telnet_closed_with(alice, r"^! your account was deleted: you are logged out")
    code, reason, _ = await closed(ws)
    assert (code, reason) == (REVOKED, "your account was deleted: you are logged out")
    alice.send("am I still here?")
    assert not any("am I still here" in line for line in await bob.lines_for(0.5))
    async with http_from(app) as client:
        r = await client.post("/send/lobby/alice", content="hello?", headers=basic_header("alice"))
        assert r.status_code == 401
    await bob.close()
    await alice.close()


# the CLI, from another process, against `torbit serve` in another process


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeProcess]:
    n = NodeProcess(tmp_path / "node", TORBIT_STORAGE__URL=f"sqlite:///{tmp_path}/torbit.db")
    await asyncio.to_thread(n.start)
    yield n
    await asyncio.to_thread(n.stop)


async def cli(node: NodeProcess, *args: str, stdin: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
    env.update({f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()})
    env.update(node.env)
    p = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "torbit",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await p.communicate(stdin.encode())
    assert p.returncode == 0, err.decode()
    return out.decode()


class Remote:
    """Enough of an App for the helpers: the node's ports."""

    def __init__(self, node: NodeProcess) -> None:
        self.http_port = node.http_port
        self.telnet_port = node.telnet_port


@pytest.mark.slow
async def test_cli_passwd_and_del_close_open_sessions_of_a_running_server(
    node: NodeProcess,
) -> None:
    remote = Remote(node)
    app: App = remote  # type: ignore[assignment]
    async with http_from(app) as client:
        await register(client, "alice", "bob")
    telnet = await telnet_login(app, "alice")
    ws = await ws_from(app, basic_header("alice"), logged_in=True)

    async def watch() -> tuple[int | None, str | None, float]:
        code, reason, _ = await closed(ws)
        return code, reason, time.monotonic()

    watcher = asyncio.create_task(watch())
    await cli(node, "user", "passwd", "alice", "--password-stdin", stdin="changed-pw\n")
    exited = time.monotonic()
    await telnet_closed_with(telnet, r"^! your password was changed: you are logged out")
    code, reason, closed_at = await watcher
    print(f"WebSocket closed {closed_at - exited:+.2f} s after `torbit user passwd` exited")
    assert (code, reason) == (REVOKED, "your password was changed: you are logged out")
    await telnet.close()

    telnet = await telnet_login(app, "alice", "changed-pw")
    ws = await ws_from(app, basic_header("alice", "changed-pw"), logged_in=True)
    await cli(node, "user", "del", "alice", "--yes")  # returns once the nodes have closed them
    code, reason, _ = await closed(ws, timeout=0.5)
    assert (code, reason) == (REVOKED, "your account was deleted: you are logged out")
    await telnet_closed_with(telnet, r"^! your account was deleted: you are logged out")
    await telnet.close()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.http_port}") as client:
        r = await client.post("/send/lobby/alice", content="x", headers=basic_header("alice"))
        assert r.status_code == 401
