"""The app log, as an operator reads it: who logged in and out where (never a password or a
token), and connections the server's own shutdown closed said to be so."""

from __future__ import annotations

from pathlib import Path

from websockets.asyncio.client import connect

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, eventually, http_client, login, register, ws_url
from tests.helpers.moderation import telnet


def app_log(data_dir: Path) -> str:
    return (data_dir / "logs" / "torbit.log").read_text()


async def test_logins_and_logouts_are_in_the_app_log(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await make_server()
    alice = await telnet(app, "alice")
    alice.send("/quit")
    await alice.read_until("bye")
    await alice.close()
    async with http_client(app) as client:
        await register(client, "bob")
        token = await login(client, "bob")
        async with connect(
            ws_url(app), additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            await ws.recv()
    # each logout is logged once the server has seen the client go (the file's batch after)
    await eventually(
        lambda: all(f"logout {who} from" in app_log(tmp_path) for who in ("alice", "bob"))
    )
    await app.stop()
    log = app_log(tmp_path)
    assert "login alice from telnet 127.0.0.1:" in log
    assert "logout alice from telnet 127.0.0.1:" in log
    assert "login bob from websocket 127.0.0.1:" in log
    assert "logout bob from websocket 127.0.0.1:" in log
    assert PASSWORD not in log and token not in log


async def test_websockets_closed_by_shutdown_are_logged_so(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await make_server()
    async with http_client(app) as client:
        await register(client, "carol")
        token = await login(client, "carol")
    async with connect(ws_url(app), additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.recv()
        await app.stop()
    log = app_log(tmp_path)
    assert "WebSocket client carol closed by shutdown" in log
    assert "gone without closing" not in log
