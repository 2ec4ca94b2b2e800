"""A `postgresql + kafka` cluster through trouble: a node killed and started again (on
`cassandra + kafka` too), the broker frozen, the database frozen. During an outage every request fails cleanly and soon (telnet
`! ... unavailable`, HTTP 503 with the error shape, /readyz 503); afterwards everything works
again without restarting anything, and no acknowledged message is lost."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ServerFactory
from tests.helpers.http import bearer, error_of, login, register
from tests.scale.clients import Clients, Node, telnet_messages, url
from tests.scale.conftest import STORES, NodeFactory, ProcessFactory
from tests.scale.processes import PrivatePostgres
from torbit.testing.kafka import KafkaCluster

pytestmark = [pytest.mark.slow, pytest.mark.kafka]

# KafkaLog gives up on the broker after 5 s, /readyz after 2 s, the store after its statement
# timeout: during an outage every call ends with its error. A hang guard, not a timing: a call
# still waiting after HANG_GUARD_S hangs (a loaded machine is slow, never this slow).
HANG_GUARD_S = 60.0


async def ready(node: Node) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url(node), timeout=20) as client:
        return await client.get("/readyz")


async def eventually_ok(attempt: Callable[[], Awaitable[Any]], within: float = 30) -> Any:
    """The first result of `attempt` that is not an exception (clients reconnecting)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await attempt()
        except (AssertionError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def bounded(what: Awaitable[Any]) -> Any:
    """`what`'s result; a TimeoutError if it hangs instead of failing."""
    async with asyncio.timeout(HANG_GUARD_S):
        return await what


def check_log(messages: list[dict[str, Any]], acknowledged: list[dict[str, Any]]) -> None:
    """Ids 1..n without a hole, and every acknowledged message among them, unchanged."""
    assert [m["id"] for m in messages] == list(range(1, len(messages) + 1))
    by_id = {m["id"]: (m["sender"], m["text"]) for m in messages}
    for m in acknowledged:
        assert by_id.get(m["id"]) == (m["sender"], m["text"]), m


@pytest.mark.parametrize("scale_store", STORES)
async def test_a_node_killed_and_started_again_loses_nothing(
    make_node: NodeFactory, make_process: ProcessFactory, clients: Clients
) -> None:
    """Node b (a subprocess) is SIGKILLed while alice keeps talking on a; started again, it
    serves every acknowledged message, bob's /receive cursor, and live delivery."""
    a = await make_node("a")
    b = make_process("b")
    await asyncio.to_thread(b.start)
    try:
        alice = await clients.http(a, "alice")
        bob = await clients.http(b, "bob")
        for user in (alice, bob):
            await user.join("talk")
        listener = await clients.ws(b, "listener")
        await listener.subscribe("talk")
        acknowledged: list[dict[str, Any]] = []
        for n in range(10):
            acknowledged.append(await alice.send("talk", f"alice {n}"))
            acknowledged.append(await bob.send("talk", f"bob {n}"))
        await listener.wait_messages(20)
        assert [m["text"] for m in await bob.receive("talk", limit=15)][-1] == "alice 7"

        # b dies mid-conversation: alice goes on talking on a, bob's sends fail
        talking = True

        async def alice_talks() -> None:
            # at most a history page's worth in all (bob.history reads one page of 1,000): on a
            # fast machine, or a slow restart of b, alice sent over 1,000 and the page began
            # at the 98th (CI 2026-12-03), which is no hole in the log
            n = 10
            while talking and n < 900:
                acknowledged.append(await alice.send("talk", f"alice {n}"))
                n += 1

        alice_task = asyncio.create_task(alice_talks())
        await asyncio.sleep(0.2)
        b.kill()
        with pytest.raises(httpx.TransportError):
            await bob.send("talk", "into the void")
        await asyncio.sleep(0.5)
        await asyncio.to_thread(b.start)
        talking = False
        await alice_task

        bob = await clients.http(b, "bob", new=False)
        acknowledged.append(await bob.send("talk", "bob is back"))
        history = await bob.history("talk")
        check_log(history, acknowledged)
        assert history[-1]["text"] == "bob is back"
        # the cursor survived with the data: /receive goes on right after "alice 7"
        rest = await bob.receive("talk", limit=1000)
        assert [m["id"] for m in rest] == list(range(16, len(history) + 1))

        listener = await clients.ws(b, "listener", new=False)
        await listener.subscribe("talk")
        await alice.send("talk", "welcome back")
        await listener.frame("message", "welcome back")
    finally:
        b.stop()


@pytest.mark.postgres
async def test_a_broker_outage_fails_cleanly_and_heals_without_restarts(
    make_node: NodeFactory, clients: Clients, broker: KafkaCluster
) -> None:
    """The broker frozen (SIGSTOP) under two nodes with telnet, WebSocket and HTTP users, then
    thawed (SIGCONT): it is never restarted, nor is any node."""
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.telnet(a, "alice")
    bob = await clients.ws(b, "bob")
    await bob.subscribe("lobby")
    carol = await clients.http(b, "carol")
    await carol.join("lobby")
    dan = await clients.ws(b, "dan")
    async with httpx.AsyncClient(base_url=url(b)) as http:
        await register(http, "fay")
        fay_token = await login(http, "fay")
    acknowledged = [await carol.send("lobby", f"before {n}") for n in range(3)]
    await bob.wait_messages(3)

    broker.pause()
    alice.send("during, from telnet")
    await bob.send({"type": "send", "room": "lobby", "text": "during, from a socket", "ref": 1})
    await dan.send({"type": "subscribe", "room": "den", "ref": 2})  # new to b's consumer
    refused, unready_a, unready_b, _, send_error, subscribe_error, _, _ = await asyncio.gather(
        bounded(carol.post("lobby", "during, over http")),
        bounded(ready(a)),
        bounded(ready(b)),
        bounded(alice.expect(r"^! .*unavailable", timeout=HANG_GUARD_S)),
        bounded(bob.frame("error", timeout=HANG_GUARD_S)),
        bounded(dan.frame("error", timeout=HANG_GUARD_S)),
        # logging in needs the inbox watched: a new telnet or WebSocket login is turned away
        bounded(clients.telnet_login(a, "erin", until=r"^! .*unavailable.*try again later")),
        bounded(refused_socket(b, fay_token)),
    )
    assert "message log unavailable" in error_of(refused, 503, "unavailable")
    for response in (unready_a, unready_b):
        assert "message log" in error_of(response, 503, "unavailable")
    for error, ref in ((send_error, 1), (subscribe_error, 2)):
        assert (error["code"], error["ref"]) == ("unavailable", ref), error
    broker.resume()

    # no node is restarted: the clients reconnect and the consumers catch up by themselves
    for node in (a, b):
        assert (await eventually_ok(partial(_ready_ok, node))) == {"status": "ready"}
    acknowledged.append(await eventually_ok(lambda: carol.send("lobby", "after, over http")))
    alice.send("after, from telnet")
    await bob.frame("message", "after, from telnet")
    await bob.send({"type": "send", "room": "lobby", "text": "after, from a socket"})
    await alice.expect("after, from a socket")

    # what failed to start during the outage (watching a room, an inbox) works when retried
    erin = await eventually_ok(lambda: clients.telnet(a, "erin"))
    await dan.subscribe("den")
    await carol.join("den")
    acknowledged.append(await carol.send("den", "to den"))
    await dan.frame("message", "to den")
    acknowledged.append(await carol.send("lobby", "hello erin"))
    await erin.expect("hello erin")
    await carol.client.post("/api/v1/private-messages", json={"to": "erin", "text": "psst"})
    await erin.expect("psst")

    history = await carol.history("lobby")
    check_log(history, [m for m in acknowledged if m["room"] == "lobby"])
    texts = [m["text"] for m in history]
    assert texts[-3:] == ["after, from telnet", "after, from a socket", "hello erin"]
    # live delivery on b saw the log as it is: every message once, in order, no hole
    # (a send that timed out may still have reached the log: at least once, never lost)
    assert [m["id"] for m in bob.messages] == [m["id"] for m in history]


async def refused_socket(node: Node, token: str) -> None:
    """A WebSocket that logs in during an outage is told so, and closed with 1013."""
    async with connect(
        url(node).replace("http", "ws") + "/api/v1/ws", additional_headers=bearer(token)
    ) as ws:
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"]) == ("error", "unavailable"), error
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


async def _ready_ok(node: Node) -> Any:
    r = await ready(node)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of the test's own: a node on the local log after one of a cluster's on
    the same database would be refused while their leases are fresh (registry.py)."""
    pg = PrivatePostgres.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.mark.postgres
async def test_a_database_outage_fails_cleanly_and_heals_without_restarts(
    make_server: ServerFactory,
    clients: Clients,
    broker: KafkaCluster,
    private_pg: PrivatePostgres,
    prefix: str,
    tmp_path: Path,
) -> None:
    """The database frozen under two nodes: what needs it fails within the statement timeout
    (never hangs), what does not goes on: a telnet line into the room one is in, and an HTTP
    send of a member the node has already seen (its membership is cached, see
    core/membercache.py), which the broker alone acknowledges."""
    sections = {
        "storage": {"url": private_pg.url},
        "message_log": {"url": f"kafka://{broker.bootstrap}", "topic_prefix": prefix},
    }
    a = await make_server(data_dir=tmp_path / "a", **sections)
    b = await make_server(data_dir=tmp_path / "b", **sections)
    alice = await clients.http(a, "alice")
    await alice.join("lobby")
    bob = await clients.telnet(b, "bob")
    acknowledged = [await alice.send("lobby", "before")]
    await telnet_messages(bob, 1)

    private_pg.pause()
    try:
        bob.send("/rooms")
        sent, unready, _ = await asyncio.gather(
            bounded(alice.post("lobby", "during")),
            bounded(ready(a)),
            bounded(bob.expect(r"^! storage unavailable", timeout=HANG_GUARD_S)),
        )
        assert sent.status_code == 201, sent.text
        acknowledged.append(sent.json())
        assert "store" in error_of(unready, 503, "unavailable")
        # a session already in its room keeps talking: that path needs only the broker
        bob.send("still here")
        assert await telnet_messages(bob, 1) == [("bob", "still here")]
    finally:
        private_pg.resume()

    assert (await eventually_ok(lambda: _ready_ok(a))) == {"status": "ready"}
    acknowledged.append(await eventually_ok(lambda: alice.send("lobby", "after")))
    bob.send("/rooms")
    await bob.expect(r"#lobby")
    check_log(await alice.history("lobby"), acknowledged)


def sample(metrics: str, series: str) -> float:
    """The value of one series (`name{labels}`) in a /metrics text; 0 if absent."""
    for line in metrics.splitlines():
        if line.startswith(series + " "):
            return float(line.rpartition(" ")[2])
    return 0.0


@pytest.mark.postgres
async def test_a_database_outage_shows_in_metrics_and_its_end_too(
    make_server: ServerFactory, clients: Clients, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    """One node on PostgreSQL and its local message log, frozen: /metrics (which needs no
    database) says the store and the log are down, counts the failed operations and the
    refused line by reason, and says both are up again once the database is back. On main
    /metrics showed nothing of it."""
    app = await make_server(data_dir=tmp_path, storage={"url": private_pg.url})
    store_up = 'torbit_backend_up{backend="store"}'
    log_up = 'torbit_backend_up{backend="message_log"}'
    tess = await clients.telnet(app, "tess")  # in the default room: a line needs only the log
    async with httpx.AsyncClient(base_url=url(app), timeout=20) as client:

        async def metrics() -> str:
            return (await client.get("/metrics")).text

        before = await metrics()
        assert sample(before, store_up) == sample(before, log_up) == 1

        private_pg.pause()
        try:
            tess.send("during")
            await tess.expect(r"^! storage unavailable", timeout=30)

            async def down() -> str:
                text = await metrics()
                assert sample(text, store_up) == sample(text, log_up) == 0, text
                return text

            during = await eventually_ok(down, within=HANG_GUARD_S)
            failed = 'torbit_backend_failures_total{backend="%s",reason="timeout"}'
            assert sample(during, failed % "message_log") >= 1
            assert sample(during, failed % "store") >= 1  # the probe's
            assert sample(during, 'torbit_publish_failures_total{reason="timeout"}') == 1
        finally:
            private_pg.resume()

        async def up() -> None:
            text = await metrics()
            assert sample(text, store_up) == sample(text, log_up) == 1, text

        await eventually_ok(up)
        tess.send("after")
        assert await telnet_messages(tess, 1) == [("tess", "after")]
