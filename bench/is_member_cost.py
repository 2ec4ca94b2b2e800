"""What cass61's membership check costs (docs/security.md "cass61"): the doors' "are you a
member of this room" (`RoomLookup.is_member`) as main had it, `room in rooms_of(user)`, and
as now, `Store.is_member(room, user)`, for a user in `--rooms` rooms.

On Cassandra (the tests' node; it starts one if none runs), old and new alternate in the
same minutes: the median latency, its quartiles and the CQL requests one sends (counted on
the store's Cql object), as bench/cassandra_lifts_cost.py reports them. On SQLite (a file
in a temporary directory), `timeit` of each call, old and new alternating `--repeat` times:
the median and the spread of the per-call times, in µs.

    PYTHONPATH=src:. .venv/bin/python bench/is_member_cost.py --ops 150 --rooms 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime

from tests.contract.conftest import CassandraKeyspaces

from cassandra_lifts_cost import alternate, counting
from torbit.backends.store.cassandra import CassandraStore
from torbit.backends.store.sql import SqlStore
from torbit.core.models import Room, User
from torbit.core.ports import Store


async def old(s: Store, room: str, user: str) -> bool:
    return room in await s.rooms_of(user)


async def new(s: Store, room: str, user: str) -> bool:
    return await s.is_member(room, user)


async def fill(store: Store, rooms: int) -> str:
    """A reader in `rooms` rooms; the key of the last (the one asked of)."""
    now = datetime.now(UTC)
    for name in ("alice", "reader"):
        await store.create_user(User(name=name, password_hash="x", created_at=now))
    for n in range(rooms):
        await store.create_room(Room(name=f"r{n}", created_at=now, owner="alice"))
        await store.add_member(f"r{n}", "reader")
    return f"r{rooms - 1}"


async def on_cassandra(args: argparse.Namespace, url: str) -> None:
    store = CassandraStore(url)
    await store.open()
    room = await fill(store, args.rooms)
    calls: Counter[str] = Counter()
    counting(store, calls)
    print(f"cassandra, a user in {args.rooms} rooms")
    print(f"{'act':9} {'version':7} {'median ms':>9} {'q1-q3 ms':>13}  requests one")

    async def prepare(i: int, n: int) -> tuple[str, str]:
        return room, "reader"

    await alternate(store, calls, "is_member", (old, new), args.ops, prepare)
    await store.close()


async def on_sqlite(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore(f"sqlite:///{tmp}/torbit.db")
        await store.open()
        room = await fill(store, args.rooms)
        took: dict[str, list[float]] = {"old": [], "new": []}
        versions = {"old": old, "new": new}
        for i in range(args.repeat):
            for label in ("old", "new") if i % 2 == 0 else ("new", "old"):
                start = time.perf_counter()
                for _ in range(args.number):
                    assert await versions[label](store, room, "reader")
                took[label].append((time.perf_counter() - start) / args.number * 1e6)
        await store.close()
    print(f"sqlite, a user in {args.rooms} rooms ({args.repeat} x {args.number} calls)")
    for label, times in took.items():
        q = statistics.quantiles(times, n=4)
        print(f"is_member {label:7} {statistics.median(times):7.1f} µs  {q[0]:.1f}-{q[2]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=150, help="Cassandra calls of each version")
    parser.add_argument("--rooms", type=int, default=5, help="the reader's rooms")
    parser.add_argument("--repeat", type=int, default=21, help="SQLite rounds of each version")
    parser.add_argument("--number", type=int, default=2000, help="SQLite calls a round")
    parser.add_argument("--only", choices=("cassandra", "sqlite"), help="one store only")
    arguments = parser.parse_args()
    if arguments.only != "sqlite":
        keyspaces = CassandraKeyspaces()
        try:
            asyncio.run(on_cassandra(arguments, keyspaces.create()))
        finally:
            keyspaces.drop_all()  # its own event loop
    if arguments.only != "cassandra":
        asyncio.run(on_sqlite(arguments))
