"""Soak drill (by hand, `bench/drills.py soak --minutes 30`): steady mixed load for a long
time — telnet users chatting in several rooms, HTTP users sending and polling `/receive`,
WebSocket users listening, logins coming and going — with a retention of seconds, so the
purge runs throughout. Server memory, descriptors and storage (SQLite file + WAL, or the
PostgreSQL database) are sampled at a fixed interval and must be flat after warm-up; no
acknowledged message may be lost.

With a second node (`receiver`, postgres-kafka only) the senders are on the first node and the
listeners — telnet watchers, WebSocket users, HTTP pollers — on the second, so every delivery
crosses the broker; the churn is split over both.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import dataclass

import httpx
from websockets.asyncio.client import connect

from tests.drills.clients import Honest, basic_header, last_lines_arrive, register_http
from tests.drills.harness import (
    Report,
    ServerProcess,
    load_average,
    mb,
    percentile,
    pg_database_bytes,
)
from tests.drills.storm import Storm


@dataclass
class Sample:
    minute: float
    rss: int
    fds: int
    storage: int
    load: str
    rss_b: int = 0
    broker: int = 0


async def storage_bytes(server: ServerProcess) -> int:
    if server.deployment.on_postgres:
        assert server.deployment.storage_url is not None
        return await pg_database_bytes(server.deployment.storage_url)
    return server.storage_bytes()


async def ws_listener(
    server: ServerProcess, name: str, room: str, stop: asyncio.Event, counts: dict[str, int]
) -> None:
    """A WebSocket user subscribed to a room, counting the messages it gets."""
    url = f"ws://127.0.0.1:{server.http_port}/api/v1/ws"
    async with connect(url, additional_headers={"Authorization": basic_header(name)}) as ws:
        await ws.send(json.dumps({"type": "subscribe", "room": room}))
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            if json.loads(raw).get("type") == "message":
                counts[name] = counts.get(name, 0) + 1


async def http_poller(
    server: ServerProcess, name: str, room: str, stop: asyncio.Event, counts: dict[str, int]
) -> None:
    """An HTTP user long-polling `GET /receive` for a room."""
    async with httpx.AsyncClient(
        base_url=server.http_url, timeout=60, headers={"Authorization": basic_header(name)}
    ) as client:
        while not stop.is_set():
            r = await client.get(f"/receive/{room}/{name}", params={"wait": 5, "limit": 1000})
            r.raise_for_status()
            counts[name] = counts.get(name, 0) + len(r.json()["messages"])


async def churn(storm: Storm, per_second: float, stop: asyncio.Event) -> None:
    """Logins and requests coming and going at a steady pace."""
    kinds = [storm.telnet, storm.http, storm.ws, storm.tcp]
    i = 0
    while not stop.is_set():
        try:
            await kinds[i % len(kinds)]()
            storm.done["churn"] += 1
        except (OSError, TimeoutError, EOFError) as e:
            storm.failed[type(e).__name__] += 1
        i += 1
        await asyncio.sleep(1 / per_second)


async def soak_drill(
    server: ServerProcess,
    *,
    minutes: float = 30.0,
    sample_every: float = 60.0,
    rooms: int = 4,
    telnet_per_room: int = 10,
    interval: float = 1.0,
    ws_per_room: int = 2,
    churn_per_second: float = 5.0,
    warmup_samples: int = 1,
    receiver: ServerProcess | None = None,
    watchers_per_room: int = 4,
) -> Report:
    """`rooms` rooms with `telnet_per_room` telnet users each saying a line every `interval`
    seconds, one HTTP sender, one HTTP poller and `ws_per_room` WebSocket listeners per room,
    and `churn_per_second` short-lived connections; samples every `sample_every` seconds. With
    a `receiver` node, the listeners (and `watchers_per_room` telnet watchers) are on it."""
    started = time.monotonic()
    nodes = [server] if receiver is None else [server, receiver]
    for node in nodes:
        await asyncio.to_thread(node.start)
    listen = receiver or server
    room_names = [f"soak{r}" for r in range(rooms)]
    honest = [
        Honest(room, [f"s{r}t{i:02d}" for i in range(telnet_per_room)], f"s{r}web")
        for r, room in enumerate(room_names)
    ]
    listeners = [
        (f"s{r}ws{i}", room) for r, room in enumerate(room_names) for i in range(ws_per_room)
    ]
    ws_names = [name for name, _ in listeners]
    pollers = [f"s{r}poll" for r in range(rooms)]
    churners = [f"churn{i:03d}" for i in range(50)]
    await register_http(
        server.http_url, [*(h.http_name for h in honest), *ws_names, *pollers, *churners]
    )
    for r, h in enumerate(honest):
        await h.connect(server.telnet_port)
        if receiver is not None:
            await h.watch(receiver.telnet_port, [f"s{r}w{i:02d}" for i in range(watchers_per_room)])
    rss_before, fds_before = server.rss(), server.fds()
    rss_before_b = receiver.rss() if receiver else 0
    stop = asyncio.Event()
    counts: dict[str, int] = {}
    storms = [Storm(node, churners) for node in nodes]
    tasks = [asyncio.create_task(h.talk(u, stop, interval)) for h in honest for u in h.users]
    tasks += [asyncio.create_task(h.talk_http(server.http_url, stop, interval)) for h in honest]
    tasks += [
        asyncio.create_task(ws_listener(listen, n, room, stop, counts)) for n, room in listeners
    ]
    tasks += [
        asyncio.create_task(http_poller(listen, n, room_names[r], stop, counts))
        for r, n in enumerate(pollers)
    ]
    tasks += [asyncio.create_task(churn(st, churn_per_second / len(storms), stop)) for st in storms]
    samples: list[Sample] = []
    t0 = time.monotonic()
    end = t0 + minutes * 60
    next_sample = t0
    try:
        while time.monotonic() < end:
            for node in nodes:
                node.check_alive()
            for t in tasks:
                if t.done():
                    t.result()  # a client that failed says why
            if time.monotonic() >= next_sample:
                s = Sample(
                    round((time.monotonic() - t0) / 60, 1),
                    server.rss(),
                    server.fds(),
                    await storage_bytes(server),
                    load_average(),
                    receiver.rss() if receiver else 0,
                    server.deployment.broker_bytes(),
                )
                samples.append(s)
                print(
                    f"soak: minute {s.minute}: rss {mb(s.rss)} MB"
                    + (f" (B {mb(s.rss_b)} MB)" if receiver else "")
                    + f", fds {s.fds}, storage {mb(s.storage)} MB"
                    + (f" + broker {mb(s.broker)} MB" if s.broker else "")
                    + f", load {s.load}",
                    flush=True,
                )
                next_sample += sample_every
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    await last_lines_arrive(honest)
    for node in nodes:
        node.check_alive()
    lost = sum(h.missing() for h in honest)
    dropped = sum(h.dropped() for h in honest)
    for h in honest:
        h.abort()
    purged = sum(
        int(n)
        for node in nodes
        for n in re.findall(r"retention: purged (\d+) expired", node.app_log())
    )
    rss_after, fds_after = server.rss(), server.fds()
    rss_after_b = receiver.rss() if receiver else 0
    storage_after = await storage_bytes(server)
    for node in nodes:
        node.stop()
    steady = samples[warmup_samples:] or samples  # under load, after warm-up
    latencies = sorted(ms for h in honest for ms in h.latencies_ms)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    extra: dict[str, object] = {
        "nodes": len(nodes),
        "honest_dropped": dropped,
        "honest_errors": sum(len(h.errors) for h in honest),
        "delivered_telnet": sum(h.delivered() for h in honest),
        "ws_and_poll_received": sum(counts.values()),
        "latency_ms_p50_p99": f"{p50 or 0:.1f}/{p99 or 0:.1f}",
        "churned": sum(st.done["churn"] for st in storms),
        "churn_failed": dict(sum((st.failed for st in storms), Counter())),
        "purged": purged,
        "rss_mb_steady_min_max": f"{mb(min(s.rss for s in steady))}/"
        f"{mb(max(s.rss for s in steady))}",
        "fds_steady_min_max": f"{min(s.fds for s in steady)}/{max(s.fds for s in steady)}",
        "storage_mb_steady_min_max": f"{mb(min(s.storage for s in steady))}/"
        f"{mb(max(s.storage for s in steady))}",
        "storage_mb_after": mb(storage_after),
        "load_min_max": f"{min(samples, key=lambda s: float(s.load)).load}/"
        f"{max(samples, key=lambda s: float(s.load)).load}",
        "samples": " ".join(
            f"{s.minute}m:{mb(s.rss)}MB/{s.fds}fd/{mb(s.storage)}MB/l{s.load}"
            + (f"/B{mb(s.rss_b)}MB" if receiver else "")
            for s in samples
        ),
    }
    if server.deployment.broker_data is not None:
        extra["broker_mb_steady_min_max"] = (
            f"{mb(min(s.broker for s in steady))}/{mb(max(s.broker for s in steady))}"
        )
        extra["broker_mb_samples"] = " ".join(mb(s.broker) for s in samples)
    if receiver is not None:
        extra["rss_mb_b"] = f"{mb(rss_before_b)}->{mb(rss_after_b)}"
        extra["rss_mb_b_steady_min_max"] = (
            f"{mb(min(s.rss_b for s in steady))}/{mb(max(s.rss_b for s in steady))}"
        )
    where = "" if receiver is None else ", senders on node A, listeners on node B"
    return Report(
        drill="soak",
        deployment=server.deployment.name,
        load=f"{minutes:g} min: {rooms} rooms x ({telnet_per_room} telnet at "
        f"{1 / interval:g} msg/s, 1 http sender, 1 http poller, {ws_per_room} ws"
        + (f", {watchers_per_room} telnet watchers" if receiver else "")
        + f"), {churn_per_second:g} connections/s coming and going{where}",
        faults="retention 18 s: "
        + (
            "the topics' retention.ms (the broker expires records)"
            if server.deployment.bus_url.startswith("kafka")
            else "the purge ran every minute"
        ),
        acknowledged=sum(len(h.acked) for h in honest),
        lost=lost,
        rss_before=rss_before,
        rss_after=rss_after,
        fds_before=fds_before,
        fds_after=fds_after,
        seconds=time.monotonic() - started,
        extra=extra,
    )
