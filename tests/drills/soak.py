"""Soak drill (by hand, `bench/drills.py soak --minutes 30`): steady mixed load for a long
time — telnet users chatting in several rooms, HTTP users sending and polling `/receive`,
WebSocket users listening, logins coming and going — with a retention of seconds, so the
purge runs throughout. Server memory, descriptors and storage (SQLite file + WAL) are sampled
at a fixed interval and must be flat after warm-up; no acknowledged message may be lost.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass

import httpx
from websockets.asyncio.client import connect

from tests.drills.clients import Honest, basic_header, register_http
from tests.drills.harness import Report, ServerProcess, mb
from tests.drills.storm import Storm


@dataclass
class Sample:
    minute: float
    rss: int
    fds: int
    storage: int


async def ws_listener(server: ServerProcess, name: str, room: str, stop: asyncio.Event,
                      counts: dict[str, int]) -> None:
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


async def http_poller(server: ServerProcess, name: str, room: str, stop: asyncio.Event,
                      counts: dict[str, int]) -> None:
    """An HTTP user long-polling `GET /receive` for a room."""
    async with httpx.AsyncClient(base_url=server.http_url, timeout=60,
                                 headers={"Authorization": basic_header(name)}) as client:
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
    server: ServerProcess, *, minutes: float = 30.0, sample_every: float = 60.0,
    rooms: int = 4, telnet_per_room: int = 10, interval: float = 1.0, ws_per_room: int = 2,
    churn_per_second: float = 5.0, warmup_samples: int = 1,
) -> Report:
    """`rooms` rooms with `telnet_per_room` telnet users each saying a line every `interval`
    seconds, one HTTP sender, one HTTP poller and `ws_per_room` WebSocket listeners per room,
    and `churn_per_second` short-lived connections; samples every `sample_every` seconds."""
    started = time.monotonic()
    await asyncio.to_thread(server.start)
    room_names = [f"soak{r}" for r in range(rooms)]
    honest = [Honest(room, [f"s{r}t{i:02d}" for i in range(telnet_per_room)], f"s{r}web")
              for r, room in enumerate(room_names)]
    listeners = [(f"s{r}ws{i}", room) for r, room in enumerate(room_names)
                 for i in range(ws_per_room)]
    ws_names = [name for name, _ in listeners]
    pollers = [f"s{r}poll" for r in range(rooms)]
    churners = [f"churn{i:03d}" for i in range(50)]
    await register_http(server.http_url, [*(h.http_name for h in honest), *ws_names, *pollers,
                                          *churners])
    for h in honest:
        await h.connect(server.telnet_port)
    rss_before, fds_before = server.rss(), server.fds()
    stop = asyncio.Event()
    counts: dict[str, int] = {}
    storm = Storm(server, churners)
    tasks = [asyncio.create_task(h.talk(u, stop, interval)) for h in honest for u in h.users]
    tasks += [asyncio.create_task(h.talk_http(server.http_url, stop, interval)) for h in honest]
    tasks += [asyncio.create_task(ws_listener(server, n, room, stop, counts))
              for n, room in listeners]
    tasks += [asyncio.create_task(http_poller(server, n, room_names[r], stop, counts))
              for r, n in enumerate(pollers)]
    tasks.append(asyncio.create_task(churn(storm, churn_per_second, stop)))
    samples: list[Sample] = []
    t0 = time.monotonic()
    end = t0 + minutes * 60
    next_sample = t0
    try:
        while time.monotonic() < end:
            server.check_alive()
            for t in tasks:
                if t.done():
                    t.result()  # a client that failed says why
            if time.monotonic() >= next_sample:
                samples.append(Sample(round((time.monotonic() - t0) / 60, 1), server.rss(),
                                      server.fds(), server.storage_bytes()))
                print(f"soak: minute {samples[-1].minute}: rss {mb(samples[-1].rss)} MB, "
                      f"fds {samples[-1].fds}, storage {mb(samples[-1].storage)} MB", flush=True)
                next_sample += sample_every
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(2)  # the last lines reach everyone
    lost = sum(h.missing() for h in honest)
    dropped = sum(u.closed.done() for h in honest for u in h.users)
    for h in honest:
        for u in h.users:
            u.abort()
    purged = sum(int(n) for n in re.findall(r"retention: purged (\d+) expired", server.app_log()))
    rss_after, fds_after = server.rss(), server.fds()
    storage_after = server.storage_bytes()
    server.stop()
    steady = samples[warmup_samples:] or samples  # under load, after warm-up
    return Report(
        drill="soak", deployment=server.deployment.name,
        load=f"{minutes:g} min: {rooms} rooms x ({telnet_per_room} telnet at "
             f"{1 / interval:g} msg/s, 1 http sender, 1 http poller, {ws_per_room} ws), "
             f"{churn_per_second:g} connections/s coming and going",
        faults="retention purge every minute (retention 18 s)",
        acknowledged=sum(len(h.acked) for h in honest), lost=lost, rss_before=rss_before,
        rss_after=rss_after, fds_before=fds_before, fds_after=fds_after,
        seconds=time.monotonic() - started,
        extra={
            "honest_dropped": dropped,
            "ws_and_poll_received": sum(counts.values()),
            "churned": storm.done["churn"], "churn_failed": dict(storm.failed),
            "purged": purged,
            "rss_mb_steady_min_max": f"{mb(min(s.rss for s in steady))}/"
                                     f"{mb(max(s.rss for s in steady))}",
            "fds_steady_min_max": f"{min(s.fds for s in steady)}/{max(s.fds for s in steady)}",
            "storage_mb_steady_min_max": f"{mb(min(s.storage for s in steady))}/"
                                         f"{mb(max(s.storage for s in steady))}",
            "storage_mb_after": mb(storage_after),
            "samples": " ".join(f"{s.minute}m:{mb(s.rss)}MB/{s.fds}fd/{mb(s.storage)}MB"
                                for s in samples),
        },
    )
