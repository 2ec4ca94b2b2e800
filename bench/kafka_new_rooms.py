"""The first message of rooms a node has just started watching, on the Kafka message log. Node
b watches one room and goes idle (its fetch wait back at --fetch-wait); then it watches N new
rooms, one after another (`loop`: each watch creates the room's topic, ~30 ms, then reassigns
the live consumer on its own) or all at once (`gather`); node a publishes into the last new
room, and once that arrived, into the old room. Publish → listener latency of each, and
aiokafka's timed-out fetches ("Failed fetch messages from 1: RequestTimedOutError").

    .venv/bin/python bench/kafka_new_rooms.py --repeat 3
    PYTHONPATH=/tmp/main/src .venv/bin/python bench/kafka_new_rooms.py --bootstrap HOST:PORT

The second form runs another tree (a `git archive` of it) on a broker already running
(`python -m torbit.testing.kafka`), so two trees can take turns on one broker in one sitting.
The old room, fetched all along, is the reference. Medians of the repeats, worst in brackets.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import torbit
from torbit.backends.message_log.kafka import KafkaLog
from torbit.core.models import Draft, Message
from torbit.testing.kafka import start_kafka


class TimedOut(logging.Handler):
    """Counts aiokafka's lines about a request it gave up waiting for."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "RequestTimedOutError" in record.getMessage():
            self.count += 1


def draft(channel: str, text: str) -> Draft:
    return Draft(channel=channel, sender="alice", text=text, sent_at=datetime.now(UTC))


async def arrival(got: dict[str, float], text: str, within: float = 30.0) -> float:
    deadline = time.perf_counter() + within
    while text not in got and time.perf_counter() < deadline:
        await asyncio.sleep(0.001)
    return got.get(text, float("nan"))


async def run(bootstrap: str, rooms: int, mode: str, args: argparse.Namespace) -> dict[str, float]:
    prefix = f"nr{secrets.token_hex(3)}"
    got: dict[str, float] = {}
    a = KafkaLog(bootstrap, topic_prefix=prefix, fetch_wait_ms=args.fetch_wait)
    b = KafkaLog(bootstrap, topic_prefix=prefix, fetch_wait_ms=args.fetch_wait)
    await a.start(lambda m: None)

    def heard(message: Message) -> None:
        got.setdefault(message.text, time.perf_counter())

    await b.start(heard)
    timed_out = TimedOut()
    logging.getLogger("aiokafka").addHandler(timed_out)
    try:
        await b.watch("old")
        await a.publish([draft("old", "warm")])
        await arrival(got, "warm")
        while b.fetch_wait_ms != args.fetch_wait:  # idle again: the long wait is back
            await asyncio.sleep(0.01)
        names = [f"new{n}" for n in range(rooms)]
        started = time.perf_counter()
        if mode == "gather":
            await asyncio.gather(*(b.watch(name) for name in names))
        else:
            for name in names:
                await b.watch(name)
        watched = time.perf_counter()
        # the new room alone first: a record in the old room would answer every held fetch
        sent = time.perf_counter()
        await a.publish([draft(names[-1], "new")])
        new = await arrival(got, "new") - sent
        sent = time.perf_counter()
        await a.publish([draft("old", "old")])
        old = await arrival(got, "old") - sent
    finally:
        logging.getLogger("aiokafka").removeHandler(timed_out)
        await b.close()
        await a.close()
    return {
        "watch": (watched - started) * 1000,
        "new": new * 1000,
        "old": old * 1000,
        "timed_out": float(timed_out.count),
    }


async def sitting(bootstrap: str, args: argparse.Namespace) -> None:
    tree = Path(torbit.__file__).parent.parent
    print(f"tree {tree}, fetch_wait_ms {args.fetch_wait}, {args.repeat} repeats", flush=True)
    print(
        "| mode | N | watches ms | new room ms (worst) | old room ms (worst) | timed-out "
        "fetches | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for mode in args.modes.split(","):
        for rooms in (int(n) for n in args.rooms.split(",")):
            runs = [await run(bootstrap, rooms, mode, args) for _ in range(args.repeat)]
            load = os.getloadavg()[0]

            def med(key: str, runs: list[dict[str, float]] = runs) -> float:
                return statistics.median(r[key] for r in runs)

            def worst(key: str, runs: list[dict[str, float]] = runs) -> float:
                return max(r[key] for r in runs)

            print(
                f"| {mode} | {rooms} | {med('watch'):.0f} | {med('new'):.0f} "
                f"({worst('new'):.0f}) | {med('old'):.0f} ({worst('old'):.0f}) "
                f"| {sum(r['timed_out'] for r in runs):.0f} | {load:.1f} |",
                flush=True,
            )


async def main(args: argparse.Namespace) -> None:
    if args.bootstrap:
        await sitting(args.bootstrap, args)
        return
    with start_kafka(quick=False, heap_mb=512) as broker:
        await sitting(broker.bootstrap, args)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", help="a running broker (else one is started)")
    p.add_argument("--rooms", default="1,5,10,20,50", help="values of N")
    p.add_argument("--modes", default="loop,gather")
    p.add_argument("--fetch-wait", type=int, default=500)
    p.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(p.parse_args()))
