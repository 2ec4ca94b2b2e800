"""PROXY protocol on the telnet and IRC ports, and draining a node, on one real server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ServerFactory
from tests.helpers.http import base_url, eventually, login, register, ws_url
from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.frontends import proxied
from torbit.protocol.proxy import encode_v1, encode_v2

TRUSTED = {"proxy_protocol": True, "trusted_proxies": ["127.0.0.1/32"]}
OPEN: list[TelnetClient] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while OPEN:
        await OPEN.pop().close()


async def proxied_telnet(app: App, header: bytes) -> TelnetClient:
    assert app.telnet_port is not None
    client = await TelnetClient.connect(app.telnet_port)
    OPEN.append(client)
    client.send_raw(header)
    return client


async def closed(client: TelnetClient) -> bool:
    try:
        await client.read_until("\x00never\x00", timeout=5)
    except EOFError:
        return True
    return False


async def test_telnet_counts_each_client_behind_the_proxy_by_its_own_address(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = await make_server(telnet=TRUSTED, limits={"connections_per_ip": 1})
    caplog.set_level(logging.INFO, "torbit")
    a = await proxied_telnet(app, encode_v2(("203.0.113.5", 40000), ("10.0.0.1", 5000)))
    b = await proxied_telnet(app, encode_v1(("198.51.100.7", 40001), ("10.0.0.1", 5000)))
    await a.login("alice")
    await b.read_until("Name: ")  # another client: its own budget of one
    again = await proxied_telnet(app, encode_v2(("203.0.113.5", 40002), ("10.0.0.1", 5000)))
    await again.expect("too many connections")  # the same client again: over its budget
    assert "registered alice from 203.0.113.5:40000" in caplog.text


async def test_telnet_refuses_a_trusted_peer_without_a_header_and_others_with_one(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxied, "HEADER_TIMEOUT", 0.3)
    caplog.set_level(logging.INFO, "torbit")
    app = await make_server(telnet=TRUSTED)
    silent = await proxied_telnet(app, b"")
    assert await closed(silent)
    assert "sent no PROXY header within 0.3 s" in caplog.text
    direct = await proxied_telnet(app, b"alice\r\n")
    assert await closed(direct)
    assert "sent no valid PROXY header (no PROXY protocol header)" in caplog.text

    other = await make_server(telnet={"proxy_protocol": True, "trusted_proxies": ["10.9.9.9"]})
    client = await proxied_telnet(other, b"")
    await client.read_until("Name: ")  # a direct client is served as usual
    client.send_raw(encode_v1(("192.0.2.1", 1), ("192.0.2.2", 2)))
    assert await closed(client)
    assert "sent a PROXY header but is not in telnet.trusted_proxies" in caplog.text
    normal = await proxied_telnet(other, b"")
    await normal.login("bob")


async def test_irc_reads_the_header_and_limits_by_the_real_address(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc={**TRUSTED, "guests": True}, limits={"connections_per_ip": 1})
    users = []
    for port, source in ((1, "203.0.113.9"), (2, "2001:db8::9")):
        irc = await RawIrc.connect(app)
        irc.send_raw(encode_v2((source, port)) + b"NICK n%d\r\nUSER u 0 * :u\r\n" % port)
        await irc.expect(" 001 ")
        users.append(irc)
    irc_sessions = app.irc.sessions if app.irc is not None else set()
    assert {s.ip for s in irc_sessions} == {"203.0.113.9", "2001:db8::9"}
    again = await RawIrc.connect(app)
    again.send_raw(encode_v1(("203.0.113.9", 3), ("10.0.0.1", 6667)))
    await again.expect("ERROR")
    for irc in (*users, again):
        await irc.close()


async def test_drain_asks_every_door_to_reconnect_and_reports_not_ready(
    make_server: ServerFactory,
) -> None:
    app = await make_server(
        node={"drain_seconds": 10, "drain_delay_seconds": 0.5}, irc={"guests": True}
    )
    telnet = await proxied_telnet(app, b"")
    await telnet.login("alice")
    irc = await RawIrc.connect(app)
    await irc.register("ircer")
    async with httpx.AsyncClient(base_url=base_url(app)) as http:
        await register(http, "bob")
        token = await login(http, "bob")
        ws = await connect(ws_url(app, f"token={token}"))
        await ws.recv()
        assert (await http.get("/readyz")).status_code == 200
        draining = asyncio.create_task(app.drain())
        # not ready at once; clients are told after the delay
        await eventually(lambda: app.draining)
        assert (await http.get("/readyz")).status_code == 503
        assert not telnet.seen or "restarting" not in telnet.seen[-1]
        await telnet.expect("this server is restarting: please reconnect")
        assert await closed(telnet)
        await irc.expect("NOTICE ircer :this server is restarting")
        await irc.expect("ERROR")
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1012
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and "draining" in ready.text
        assert await asyncio.wait_for(draining, 10) == 0  # every client gone, none cut
        assert app.clients() == 0
        await irc.close()


async def test_admin_drain_only_from_this_host_with_the_token(make_server: ServerFactory) -> None:
    app = await make_server(http={"metrics_token": "t" * 20})
    async with httpx.AsyncClient(base_url=base_url(app)) as http:
        assert (await http.post("/admin/drain")).status_code == 403
        wrong = await http.post("/admin/drain", headers={"Authorization": "Bearer " + "x" * 20})
        assert wrong.status_code == 403
        assert not app._drain_requested.is_set()
        ok = await http.post("/admin/drain", headers={"Authorization": "Bearer " + "t" * 20})
        assert ok.status_code == 202 and ok.json() == {"status": "draining", "drain_seconds": 30.0}
        assert app._drain_requested.is_set()
