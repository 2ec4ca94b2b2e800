"""Two nodes (subprocesses on Kafka + PostgreSQL) behind HAProxy itself: the nodes see each
client's own address through the PROXY protocol, and a rolling restart (SIGTERM: drain, exit,
start again; one node after the other) while clients chat loses no acknowledged message and
every client comes back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.helpers.http import PASSWORD, bearer, login, register
from tests.helpers.telnet_client import TelnetClient
from tests.scale.clients import HttpUser
from tests.scale.conftest import ProcessFactory
from tests.scale.haproxy import HAProxy
from tests.scale.processes import NodeProcess

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def cluster(
    make_process: ProcessFactory, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[list[NodeProcess], HAProxy]]:
    extra: dict[str, str] = getattr(request, "param", {})
    nodes = [
        make_process(
            name,
            TORBIT_TELNET__PROXY_PROTOCOL="true",
            TORBIT_TELNET__TRUSTED_PROXIES='["127.0.0.1"]',
            TORBIT_HTTP__TRUSTED_PROXIES='["127.0.0.1"]',
            TORBIT_NODE__DRAIN_SECONDS="10",
            TORBIT_NODE__DRAIN_DELAY_SECONDS="0.8",  # > fall × inter of haproxy.py
            **extra,
        )
        for name in ("a", "b")
    ]
    proxy: HAProxy | None = None
    try:
        for node in nodes:
            node.start()
        proxy = HAProxy(tmp_path / "haproxy", nodes, balance="source" if extra else "leastconn")
        yield nodes, proxy
    finally:
        if proxy is not None:
            proxy.close()
        for node in nodes:
            node.stop()


@dataclass
class Front:
    """The balancer, where clients connect."""

    telnet_port: int | None
    http_port: int | None


async def telnet_from(source: str, port: int) -> TelnetClient:
    """A client connecting from its own loopback address (127.0.0.2, ...)."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(source, 0), limit=2**22
    )
    return TelnetClient(reader, writer)


@pytest.mark.parametrize("cluster", [{"TORBIT_LIMITS__CONNECTIONS_PER_IP": "1"}], indirect=True)
async def test_behind_haproxy_each_node_sees_and_limits_the_real_client(
    cluster: tuple[list[NodeProcess], HAProxy],
) -> None:
    nodes, proxy = cluster
    opened: list[TelnetClient] = []

    async def client(source: str) -> TelnetClient:
        opened.append(await telnet_from(source, proxy.telnet_port))
        return opened[-1]

    try:
        first = await client("127.0.0.2")
        await first.login("carol")
        # the same client again lands on the same node (balance source): over its one connection
        second = await client("127.0.0.2")
        await second.expect("too many connections")
        # a different client is welcome, though HAProxy connects for both from 127.0.0.1
        third = await client("127.0.0.3")
        await third.login("dave")
    finally:
        for each in opened:
            await each.close()
    # a node writes its log line a moment after the client saw its welcome (it missed dave's
    # once, under load): wait for both lines (a hang guard, not a timing), then check them
    patterns = [r"registered carol from 127\.0\.0\.2:\d+", r"registered dave from 127\.0\.0\.3:\d+"]
    logs = "".join(node.output(everything=True) for node in nodes)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(60):
            while not all(re.search(p, logs) for p in patterns):
                await asyncio.sleep(0.1)
                logs = "".join(node.output(everything=True) for node in nodes)
    for pattern in patterns:
        assert re.search(pattern, logs), logs[-2000:]
    assert "from 127.0.0.1:" not in logs


@dataclass
class Tally:
    acknowledged: list[str] = field(default_factory=list)
    connects: dict[str, list[float]] = field(default_factory=dict)  # client -> connect times
    closes: dict[str, list[str]] = field(default_factory=dict)  # client -> how it was told
    closed_at: dict[str, float] = field(default_factory=dict)  # client -> its last close
    stop: bool = False

    def connected(self, name: str) -> None:
        self.connects.setdefault(name, []).append(time.monotonic())


async def ws_chatter(base: str, name: str, tally: Tally) -> None:
    """Sends a numbered message, waits for it to come back (committed: acknowledged), again;
    on a close (1012 when its node drains) it logs in again through the balancer."""
    n = 0
    while not tally.stop:
        try:
            async with httpx.AsyncClient(base_url=base, timeout=20) as http:
                token = await login(http, name, PASSWORD)
            async with connect(
                base.replace("http", "ws") + "/api/v1/ws", additional_headers=bearer(token)
            ) as ws:
                tally.connected(name)
                await ws.send(json.dumps({"type": "subscribe", "room": "roll"}))
                while not tally.stop:
                    text = f"{name} {n}"
                    await ws.send(json.dumps({"type": "send", "room": "roll", "text": text}))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
                        if frame["type"] == "error":
                            raise RuntimeError(frame)
                        if frame["type"] == "message" and frame["message"]["text"] == text:
                            break
                    tally.acknowledged.append(text)
                    n += 1
                    await asyncio.sleep(0.5)
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd is not None else None
            tally.closes.setdefault(name, []).append(f"ws {code}")
            tally.closed_at[name] = time.monotonic()
        except (
            OSError,
            httpx.HTTPError,
            InvalidStatus,
            RuntimeError,
            TimeoutError,
            AssertionError,
        ) as e:
            tally.closes.setdefault(name, []).append(f"ws {type(e).__name__}: {e!s:.80}")
            await asyncio.sleep(0.2)
        n += 1  # a message not acknowledged may still have been stored: never reuse its text


async def telnet_chatter(port: int, name: str, tally: Tally) -> None:
    """The same over telnet: a message is acknowledged when the room shows it back."""
    n = 0
    while not tally.stop:
        client = None
        try:
            client = await TelnetClient.connect(port)
            await client.login(name)
            tally.connected(name)
            client.send("/join roll")
            await client.expect(r"you are (already )?in #roll")
            while not tally.stop:
                text = f"{name} {n}"
                client.send(text)
                await client.expect(rf"<{name}> {re.escape(text)}$", timeout=20)
                tally.acknowledged.append(text)
                n += 1
                await asyncio.sleep(0.5)
        except (EOFError, OSError, AssertionError) as e:
            told = client is not None and any("please reconnect" in s for s in client.seen)
            tally.closes.setdefault(name, []).append("telnet told" if told else f"telnet {e!r:.60}")
            tally.closed_at[name] = time.monotonic()
            await asyncio.sleep(0.1)
        finally:
            if client is not None:
                await client.close()
        n += 1


async def test_rolling_restart_behind_haproxy_loses_nothing_and_everyone_returns(
    cluster: tuple[list[NodeProcess], HAProxy],
) -> None:
    nodes, proxy = cluster
    base = f"http://127.0.0.1:{proxy.http_port}"
    ws_names = [f"w{i}" for i in range(8)]
    telnet_names = [f"t{i}" for i in range(4)]
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        await register(http, *ws_names)
    reader = await HttpUser(Front(proxy.telnet_port, proxy.http_port), "reader").register()
    await reader.join("roll")
    tally = Tally()
    tasks = [asyncio.create_task(ws_chatter(base, n, tally)) for n in ws_names]
    tasks += [
        asyncio.create_task(telnet_chatter(proxy.telnet_port, n, tally)) for n in telnet_names
    ]
    everyone = ws_names + telnet_names

    async def until_all_connected(times: int) -> float:
        start = time.monotonic()
        async with asyncio.timeout(60):
            while any(len(tally.connects.get(n, [])) < times for n in everyone):
                for task in tasks:
                    if task.done():
                        task.result()
                await asyncio.sleep(0.05)
        return time.monotonic() - start

    await until_all_connected(1)
    await asyncio.sleep(2)  # chatting on both nodes
    back_within: list[float] = []
    drain_took: list[float] = []
    for index, node in enumerate(nodes):
        before = {n: (len(tally.connects[n]), len(tally.closes.get(n, []))) for n in everyone}
        started = time.monotonic()
        node.terminate()
        assert await asyncio.to_thread(node.wait, 30) == 0
        drain_took.append(time.monotonic() - started)
        await asyncio.sleep(0.5)
        # the clients the node held were told to go: each must be back, on the other node
        on_node = [n for n in everyone if len(tally.closes.get(n, [])) > before[n][1]]
        assert on_node
        async with asyncio.timeout(60):
            while any(len(tally.connects[n]) <= before[n][0] for n in on_node):
                await asyncio.sleep(0.05)
        back_within.append(max(tally.connects[n][-1] for n in on_node) - started)
        print(
            "\ntold after, back after (s since SIGTERM):",
            sorted(
                (
                    round(tally.closed_at[n] - started, 2),
                    round(tally.connects[n][-1] - started, 2),
                    n,
                )
                for n in on_node
            ),
        )

        assert not proxy.is_up(index)  # the balancer saw it drain
        await asyncio.to_thread(node.start, 30.0, True)
        # the restarted node checked up again by the balancer (two checks 200 ms apart, longer
        # on a loaded machine) before the next node goes: its clients need somewhere to go
        async with asyncio.timeout(60):
            while not proxy.is_up(index):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # chatting goes on
    tally.stop = True
    await asyncio.gather(*tasks)

    history: list[str] = []
    before_id: int | None = None
    while True:  # every message of the room, a page at a time from the newest
        params: dict[str, int] = {"limit": 1000}
        if before_id is not None:
            params["before"] = before_id
        r = await reader.client.get("/api/v1/rooms/roll/messages", params=params)
        assert r.status_code == 200, r.text
        history = [m["text"] for m in r.json()["messages"]] + history
        before_id = r.json()["next_before"]
        if before_id is None:
            break
    await reader.close()
    lost = set(tally.acknowledged) - set(history)
    restarted = {n for n in everyone if len(tally.connects[n]) > 1}
    print(
        f"\nrolling restart: {len(tally.acknowledged)} acknowledged, {len(lost)} lost; "
        f"drains took {[round(t, 2) for t in drain_took]} s; clients of the drained node all "
        f"back within {[round(t, 2) for t in back_within]} s of its SIGTERM; "
        f"{len(restarted)}/{len(everyone)} clients reconnected; closes {tally.closes}"
    )
    assert not lost, sorted(lost)[:20]
    assert restarted == set(everyone)
    for name in restarted:  # told to go, not cut: a 1012 close or the telnet line
        assert all(c in ("ws 1012", "telnet told") for c in tally.closes[name]), tally.closes
    for node in nodes:
        assert "drained in" in node.output(everything=True)
