"""What a join costs on Cassandra since cass63 made its room_users write a lightweight
transaction (docs/security.md "A skewed clock on Cassandra"): a join as main had it before
(three reads, then one logged batch of room_users and user_rooms) and as now (three reads, the
user_rooms write, then a Paxos round on the room_users row), alternating old and new, each on
a fresh user of one room; then `--crowd` joins at once (one room each, as a crowd arriving),
old and new by turns, `--rounds` times. On the tests' Cassandra node (it starts one if none
runs):

    PYTHONPATH=src:. .venv/bin/python bench/cassandra_join_cost.py --ops 150 --crowd 100

Reported: the median latency of one join and its quartiles, the requests a join sends, and
the crowd's joins a second (median and worst of the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from cassandra_lifts_cost import alternate, counted_store
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.cassandra_cql import Params
from torbit.backends.store.cassandra_fences import fence_pair
from torbit.core.models import Room


async def old_join(s: CassandraStore, room_key: str, user_key: str) -> bool:
    """`add_member` before cass63: the room_users write in the logged batch, stamped by the
    driver (this node's clock)."""
    room, user, pair = await asyncio.gather(
        s.cql.one(f"SELECT key FROM {s.ks}.rooms WHERE key = ?", room_key),
        s.cql.one(f"SELECT name FROM {s.ks}.users WHERE key = ?", user_key),
        s._pair(room_key, user_key),
    )
    assert room is not None and user is not None
    if pair.get("member"):
        return False
    values: dict[str, Any] = {"member": True, "joined": True, "by_right": None}
    extra: list[tuple[str, Params]] = []
    await s._set_pair(room_key, user_key, values, extra, name=user["name"])
    await fence_pair(s.cql, s.ks, room_key, user_key)
    return True


async def new_join(s: CassandraStore, room_key: str, user_key: str) -> bool:
    return await s.add_member(room_key, user_key)


async def crowd(store: CassandraStore, rooms: list[str], users: list[str], old: bool) -> float:
    """Every user joins his room at once; joins a second."""
    join = old_join if old else new_join
    start = time.perf_counter()
    done = await asyncio.gather(*(join(store, r, u) for r, u in zip(rooms, users, strict=True)))
    assert all(done)
    return len(users) / (time.perf_counter() - start)


async def main(args: argparse.Namespace) -> None:
    async with counted_store(args.ops + args.crowd * args.rounds) as (store, calls, names):
        room = Room(name="benchjoin", created_at=datetime.now(UTC), owner="alice")
        await store.create_room(room)
        print(f"{'act':9} {'version':7} {'median ms':>9} {'q1-q3 ms':>13}  requests a join")

        async def prepare(i: int, n: int) -> tuple[str, str]:
            return room.key, names[2 * i + n]

        await alternate(store, calls, "join", (old_join, new_join), args.ops, prepare)
        rest = names[2 * args.ops :]
        rooms = [f"crowd{i}" for i in range(args.crowd)]
        for key in rooms:
            await store.create_room(Room(name=key, created_at=datetime.now(UTC), owner="alice"))
        rates: dict[bool, list[float]] = {True: [], False: []}
        for r in range(args.rounds):
            for old in (r % 2 == 0, r % 2 != 0):
                users, rest = rest[: args.crowd], rest[args.crowd :]
                if len(users) < args.crowd:
                    break
                rates[old].append(await crowd(store, rooms, users, old))
        for old, label in ((True, "old"), (False, "new")):
            got = rates[old]
            if got:
                print(
                    f"crowd of {args.crowd} {label}: {statistics.median(got):.0f} joins/s "
                    f"median, {min(got):.0f} worst, of {len(got)} rounds"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=150, help="joins of each version")
    parser.add_argument("--crowd", type=int, default=100, help="joins at once")
    parser.add_argument("--rounds", type=int, default=6, help="crowds, old and new by turns")
    asyncio.run(main(parser.parse_args()))
