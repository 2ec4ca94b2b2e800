"""Where the Kafka path's latency goes, without torbit's doors: two KafkaLogs ("nodes") in one
process on one Apache Kafka broker, a sender publishing into one room at --rate, the other
node watching that room and many idle channels. Publish → listener latency per message.

    layout      the idle channels the receiving node also watches:
                  topics   --idle idle rooms, a single-partition topic each (what a node
                           watched before issue 11: a topic per logged-in user's inbox)
                  inboxes  --idle inboxes, sharing the inbox topic's 16 partitions (now)
    busy wait   the live consumer's fetch wait while records flow (kafka_live._BUSY_FETCH_WAIT_MS):
                  5 ms (now), or the configured fetch_wait_ms throughout (before)

    .venv/bin/python bench/kafka_latency.py --repeat 3

Every variant runs once per repeat, in turn, so all see the same machine; medians of the
repeats and the worst run are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from datetime import UTC, datetime

from torbit.backends.message_log import kafka_live
from torbit.backends.message_log.kafka import KafkaLog
from torbit.core.models import Draft, Message
from torbit.errors import ServiceUnavailable
from torbit.testing.kafka import start_kafka

VARIANTS = [("topics", False), ("topics", True), ("inboxes", False), ("inboxes", True)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    bootstrap: str, layout: str, busy: bool, args: argparse.Namespace
) -> dict[str, float]:
    kafka_live._BUSY_FETCH_WAIT_MS = 5 if busy else args.fetch_wait
    prefix = f"lat{secrets.token_hex(3)}"
    sent: dict[str, float] = {}
    lags: list[float] = []

    def heard(message: Message) -> None:
        start = sent.pop(message.text, None)
        if start is not None:
            lags.append((time.perf_counter() - start) * 1000)

    sender = KafkaLog(bootstrap, topic_prefix=prefix, fetch_wait_ms=args.fetch_wait)
    receiver = KafkaLog(bootstrap, topic_prefix=prefix, fetch_wait_ms=args.fetch_wait)
    await sender.start(lambda m: None)
    await receiver.start(heard)
    try:
        await receiver.watch("busy")
        idle = [f"idle{n}" if layout == "topics" else f"@user{n}" for n in range(args.idle)]
        await asyncio.gather(*(receiver.watch(c) for c in idle))
        # the broker creates new topics' partitions after answering: wait until it takes sends
        while True:
            try:
                await sender.publish([Draft("busy", "alice", "ready?", datetime.now(UTC))])
                break
            except ServiceUnavailable:
                continue
        await asyncio.sleep(2)
        for n in range(int(args.rate)):  # a second of warm-up (the producer's metadata, JITs)
            await sender.publish([Draft("busy", "alice", f"w{n}", datetime.now(UTC))])
            await asyncio.sleep(1 / args.rate)
        await asyncio.sleep(1)
        cpu0 = time.process_time()
        gap = 1 / args.rate
        start = time.perf_counter()
        total = int(args.seconds * args.rate)
        for n in range(total):
            text = f"m{n}"
            sent[text] = time.perf_counter()
            await sender.publish([Draft("busy", "alice", text, datetime.now(UTC))])
            await asyncio.sleep(max(0.0, start + (n + 1) * gap - time.perf_counter()))
        deadline = time.perf_counter() + 10
        while sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        cpu = (time.process_time() - cpu0) / (time.perf_counter() - start)
        fetched = len(receiver.fetched())
    finally:
        await sender.close()
        await receiver.close()
    return {
        "p50": percentile(lags, 0.5),
        "p99": percentile(lags, 0.99),
        "lost": float(len(sent)),
        "cpu": cpu,
        "partitions": float(fetched),
    }


async def main(args: argparse.Namespace) -> None:
    with start_kafka(quick=False, heap_mb=512) as broker:
        results: dict[tuple[str, bool], list[dict[str, float]]] = {v: [] for v in VARIANTS}
        for r in range(args.repeat):
            for layout, busy in VARIANTS:
                res = await run(broker.bootstrap, layout, busy, args)
                res["load"] = os.getloadavg()[0]
                results[(layout, busy)].append(res)
                print(f"repeat {r + 1} {layout} busy={busy}: {res}", flush=True)
    print(
        f"\n{args.idle} idle channels, 1 room at {args.rate:g} msg/s, {args.seconds:g} s, "
        f"fetch_wait_ms {args.fetch_wait}, {args.repeat} repeats\n"
    )
    print(
        "| idle channels as | busy wait | partitions fetched | p50 ms | p99 ms (worst) | "
        "process CPU | lost | load avg |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (layout, busy), runs in results.items():

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        print(
            f"| {layout} | {'5 ms' if busy else f'{args.fetch_wait} ms'} "
            f"| {med('partitions'):.0f} | {med('p50'):.1f} | {med('p99'):.1f} "
            f"({max(r['p99'] for r in runs):.1f}) | {med('cpu'):.2f} "
            f"| {max(r['lost'] for r in runs):.0f} "
            f"| {min(r['load'] for r in runs):.1f}–{max(r['load'] for r in runs):.1f} |"
        )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--idle", type=int, default=500)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fetch-wait", type=int, default=500)
    p.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(p.parse_args()))
