"""Store operations on Cassandra against PostgreSQL, in the same invocation on the same machine:
the store calls behind a login, a join and a /receive page, each timed one at a time (latency)
and 50 at a time (throughput). Both engines run as the tests run them: a private PostgreSQL
(fsync off) and a single Cassandra node (no fsync, commit log in batch mode), on loopback.

    .venv/bin/python bench/store_bench.py                 # 5 repeats of every operation
    .venv/bin/python bench/store_bench.py --repeat 9 --ops 500

    login    get_user + create_token           (POST /login, after the password check)
    join     get_room + standing + add_member  (joining an existing room one is not in)
    receive  get_cursor + set_cursor           (a /receive page moves the read cursor)
    auth     token_user                        (every authenticated HTTP request)

Target (issue 13): Cassandra within 3x PostgreSQL. Reported: medians of the runs' medians and
the worst run, and the Cassandra ÷ PostgreSQL ratio of each.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import uvloop

from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Room, User
from torbit.core.ports import Store
from torbit.testing.cassandra import CassandraNode
from torbit.testing.postgres import PrivatePostgres

OPS = ("login", "join", "receive", "auth")
CONCURRENCY = 50
NOW = datetime.now(UTC)


class Workload:
    """Users u0..uN and rooms r0..rM; every join takes a (user, room) pair not used before, so
    that add_member always writes."""

    def __init__(self, store: Store, users: int, rooms: int) -> None:
        self.store = store
        self.users = [f"u{i}" for i in range(users)]
        self.rooms = [f"r{i}" for i in range(rooms)]
        self._pairs = iter([(u, r) for r in self.rooms for u in self.users])
        self._cursor = 0
        self._tokens: list[str] = []
        self._n = 0

    async def seed(self) -> None:
        for name in self.users:
            await self.store.create_user(User(name=name, password_hash="x" * 90, created_at=NOW))
        for name in self.rooms:
            await self.store.create_room(Room(name=name, created_at=NOW, owner="u0"))

    def _user(self) -> str:
        self._n += 1
        return self.users[self._n % len(self.users)]

    async def login(self) -> None:
        user = await self.store.get_user(self._user())
        assert user is not None
        token = secrets.token_hex(32)
        await self.store.create_token(token, user.key, NOW + timedelta(days=7))
        self._tokens.append(token)

    async def join(self) -> None:
        user, room_key = next(self._pairs)
        room = await self.store.get_room(room_key)
        assert room is not None
        standing = await self.store.standing(room.key, user)
        assert not standing.member
        await self.store.add_member(room.key, user)

    async def receive(self) -> None:
        user = self._user()
        cursor = await self.store.get_cursor(user, "r0")
        self._cursor += 1
        await self.store.set_cursor(user, "r0", max(cursor or 0, self._cursor))

    async def auth(self) -> None:
        token = self._tokens[self._n % len(self._tokens)]
        self._n += 1
        assert await self.store.token_user(token, NOW) is not None


async def one_run(op: Callable[[], Awaitable[None]], ops: int) -> dict[str, float]:
    """Latency of `ops` calls one at a time, then throughput of `ops` calls 50 at a time."""
    for _ in range(20):  # warm: prepared statements, pools, JIT on the server
        await op()
    latencies: list[float] = []
    for _ in range(ops):
        began = time.perf_counter()
        await op()
        latencies.append(time.perf_counter() - began)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def gated() -> None:
        async with gate:
            await op()

    cpu, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(gated() for _ in range(ops)))
    wall = time.perf_counter() - began
    latencies.sort()
    return {
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
        "ops_per_s": ops / wall,
        "cpu_us_per_op": (time.process_time() - cpu) / ops * 1e6,
    }


async def measure(store: Store, args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    # every join needs a fresh pair: (warm-up + 2 x ops) per run
    rooms = (args.repeat * (2 * args.ops + 20)) // args.users + 2
    work = Workload(store, args.users, rooms)
    await work.seed()
    await work.login()
    runs: dict[str, list[dict[str, float]]] = {op: [] for op in OPS}
    for _ in range(args.repeat):
        for op in OPS:
            runs[op].append(await one_run(getattr(work, op), args.ops))
    return runs


def summary(
    runs: list[dict[str, float]], key: str, worst: Callable[..., float]
) -> tuple[float, float]:
    values = [r[key] for r in runs]
    return statistics.median(values), worst(values)


async def main(args: argparse.Namespace) -> None:
    pg = PrivatePostgres.start()
    node = CassandraNode.start()
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    try:
        stores: dict[str, Store] = {
            "postgresql": SqlStore(pg.url),
            "cassandra": CassandraStore(node.url("bench")),
        }
        for name, store in stores.items():
            await store.open()
            try:
                results[name] = await measure(store, args)
            finally:
                await store.close()
    finally:
        node.stop()
        pg.stop()
    print(
        f"store operations, {args.repeat} runs of {args.ops} ops each; medians of the runs "
        f"(worst run in brackets); Cassandra {node.started_in:.1f}s to start\n"
    )
    print("| op | metric | PostgreSQL | Cassandra | times slower on Cassandra |")
    print("|---|---|---:|---:|---:|")
    for op in OPS:
        for key, label, lower_is_better in (
            ("p50_us", "p50 latency µs", True),
            ("p99_us", "p99 latency µs", True),
            ("ops_per_s", f"ops/s ({CONCURRENCY} in flight)", False),
            ("cpu_us_per_op", "client CPU µs/op", True),
        ):
            worst = max if lower_is_better else min
            pg_mid, pg_worst = summary(results["postgresql"][op], key, worst)
            cs_mid, cs_worst = summary(results["cassandra"][op], key, worst)
            ratio = cs_mid / pg_mid if lower_is_better else pg_mid / cs_mid
            print(
                f"| {op} | {label} | {pg_mid:,.0f} ({pg_worst:,.0f}) | "
                f"{cs_mid:,.0f} ({cs_worst:,.0f}) | {ratio:.2f}x |"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--users", type=int, default=200)
    uvloop.run(main(parser.parse_args()))
