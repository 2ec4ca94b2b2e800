"""Creating and deleting names on one Cassandra node, one call at a time: what the skeleton
claims (cassandra_claims.py) cost. Run it on two checkouts to compare, under the bench lock:

    flock /tmp/bench.lock .venv/bin/python bench/cassandra_names_bench.py --repeat 5 --ops 200

    register   create_user(unlike=True)  (a guest's name, an account)
    unregister delete_user
    create     create_room               (HTTP create, telnet /create)
    ensure     ensure_room of a room that is there (a join racing the room's creation)
    delete     delete_room

Reported: the median of the runs' median latencies, and the worst run's.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from torbit.backends.store.cassandra import CassandraStore
from torbit.core.models import Room, User
from torbit.testing.cassandra import CassandraNode

NOW = datetime.now(UTC)


async def median_us(op: Callable[[str], Awaitable[object]], names: list[str]) -> float:
    took = []
    for name in names:
        start = time.perf_counter()
        await op(name)
        took.append((time.perf_counter() - start) * 1e6)
    return statistics.median(took)


async def main(args: argparse.Namespace) -> None:
    node = CassandraNode.start()
    runs: dict[str, list[float]] = {}
    try:
        store = CassandraStore(node.url("bench"))
        await store.open()
        ops: dict[str, Callable[[str], Awaitable[object]]] = {
            "register": lambda n: store.create_user(
                User(name=n, password_hash="!guest", created_at=NOW), unlike=True
            ),
            "unregister": lambda n: store.delete_user(n.lower()),
            "create": lambda n: store.create_room(Room(name=n, created_at=NOW)),
            "ensure": lambda n: store.ensure_room(Room(name=n, created_at=NOW)),
            "delete": lambda n: store.delete_room(n.lower()),
        }
        for _ in range(args.repeat):
            tag = secrets.token_hex(3)
            names = [f"g{tag}x{i}" for i in range(args.ops)]
            for label, op in ops.items():
                runs.setdefault(label, []).append(await median_us(op, names))
        await store.close()
    finally:
        node.stop()
    print(f"{args.repeat} runs of {args.ops} calls, one at a time: median (worst run), µs")
    for label, medians in runs.items():
        print(f"| {label} | {statistics.median(medians):,.0f} ({max(medians):,.0f}) |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ops", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
