"""What stop 59's lifts cost on Cassandra (cass59, docs/security.md "Cassandra lifts"): an
unban, a withdrawn invitation, a lifted mute and a leave, each as main had it before (a read,
then one logged batch) and as now (a read, a lightweight transaction on the room_users row,
then the mirrors' logged batch), alternating old and new on fresh standings of one room, in
the same minutes. On the tests' Cassandra node (it starts one if none runs):

    PYTHONPATH=src:. .venv/bin/python bench/cassandra_lifts_cost.py --ops 150

Reported per act and version: the median latency, its quartiles, and the CQL requests a lift
sends (reads, LWTs, batches), counted on the store's Cql object.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.conftest import CassandraKeyspaces

from torbit.backends.store.cassandra import CassandraStore
from torbit.core.models import Room, User

Lift = Callable[[CassandraStore, str, str], Awaitable[bool]]


async def old_unban(s: CassandraStore, room: str, user: str) -> bool:
    if (await s._pair(room, user)).get("banned_at") is None:
        return False
    revoke = [s._role_write(room, "banned", user, None)]
    await s._set_pair(room, user, {"banned_at": None}, revoke)
    return True


async def old_remove_invite(s: CassandraStore, room: str, user: str) -> bool:
    if (await s._pair(room, user)).get("invited_at") is None:
        return False
    await s._set_pair(room, user, {"invited_at": None, "invited_by": None})
    return True


async def old_remove_mute(s: CassandraStore, room: str, user: str) -> bool:
    row = await s.cql.one(
        f"SELECT until FROM {s.ks}.mutes WHERE bucket = 0 AND room_key = ? AND user_key = ?",
        room,
        user,
    )
    if row is None:
        return False
    unmute = (
        f"DELETE FROM {s.ks}.mutes WHERE bucket = 0 AND room_key = ? AND user_key = ?",
        (room, user),
    )
    await s.cql.batch([unmute, *s._mute_writes(room, user, None)])
    return True


async def old_remove_member(s: CassandraStore, room: str, user: str) -> bool:
    if not (await s._pair(room, user)).get("member"):
        return False
    roles = [s._role_write(room, r, user, None) for r in ("admin", "voiced")]
    entered = (
        f"UPDATE {s.ks}.user_rooms SET entered_at = null WHERE user_key = ? AND room_key = ?",
        (user, room),
    )
    values = {"member": None, "admin": None, "voiced": None}
    await s._set_pair(room, user, values, [*roles, entered], name=None)
    return True


LIFTS: dict[str, tuple[Lift, Lift]] = {
    "unban": (old_unban, lambda s, r, u: s.unban(r, u)),
    "uninvite": (old_remove_invite, lambda s, r, u: s.remove_invite(r, u)),
    "unmute": (old_remove_mute, lambda s, r, u: s.remove_mute(r, u, datetime.now(UTC))),
    "leave": (old_remove_member, lambda s, r, u: s.remove_member(r, u)),
}


async def give(s: CassandraStore, act: str, room: Room, user: str) -> None:
    now, made = datetime.now(UTC), room.created_at
    if act == "unban":
        await s.expel(room.key, user, banned_at=now, room_created=made)
    elif act == "uninvite":
        await s.add_invite(room.key, user, now, "alice", room_created=made)
    elif act == "unmute":
        await s.set_mute(room.key, user, now + timedelta(hours=1), room_created=made)
    else:
        await s.add_member(room.key, user)


def counting(s: CassandraStore, calls: Counter[str]) -> None:
    for name in ("one", "rows", "run", "lwt", "batch"):
        real = getattr(s.cql, name)

        async def counted(*a: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            calls[_name] += 1
            return await _real(*a, **kw)

        setattr(s.cql, name, counted)


async def alternate(
    store: CassandraStore,
    calls: Counter[str],
    act: str,
    versions: tuple[Callable[[CassandraStore, str, str], Awaitable[object]], ...],
    ops: int,
    prepare: Callable[[int, int], Awaitable[tuple[str, str]]],
) -> None:
    """`act`'s old and new version `ops` times each, alternating which goes first, each on
    the (room, user) `prepare(i, n)` readies; prints each version's median and quartiles (ms)
    and the requests one sends (`calls`, kept by `counting`). bench/cassandra_by_right_cost.py
    runs its acts by it too."""
    took: dict[int, list[float]] = {0: [], 1: []}
    sent: dict[int, Counter[str]] = {0: Counter(), 1: Counter()}
    for i in range(ops):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for n, v in enumerate(order):
            room_key, user = await prepare(i, n)
            calls.clear()
            start = time.perf_counter()
            assert await versions[v](store, room_key, user)
            took[v].append((time.perf_counter() - start) * 1e3)
            sent[v] += calls
    for v, label in ((0, "old"), (1, "new")):
        q = statistics.quantiles(took[v], n=4)
        per = {k: round(c / ops, 2) for k, c in sorted(sent[v].items())}
        print(f"{act:9} {label:7} {statistics.median(took[v]):9.2f} {q[0]:6.2f}-{q[2]:6.2f}  {per}")


@asynccontextmanager
async def counted_store(
    ops: int, *users: str
) -> AsyncIterator[tuple[CassandraStore, Counter[str], list[str]]]:
    """A store on a keyspace of its own (dropped after) with alice, `users` and the 2 ×
    `ops` users the acts' fresh standings are given to (their names, third), its requests
    counted (second, by `counting`). bench/cassandra_by_right_cost.py starts by it too."""
    keyspaces = CassandraKeyspaces()
    try:
        store = CassandraStore(keyspaces.create())
        await store.open()
        now = datetime.now(UTC)
        names = [f"u{i}" for i in range(2 * ops)]
        for name in ["alice", *users, *names]:
            await store.create_user(User(name=name, password_hash="x", created_at=now))
        calls: Counter[str] = Counter()
        counting(store, calls)
        yield store, calls, names
        await store.close()
    finally:  # its own thread: drop_all runs an event loop of its own
        await asyncio.to_thread(keyspaces.drop_all)


async def main(args: argparse.Namespace) -> None:
    async with counted_store(args.ops) as (store, calls, names):
        print(f"{'act':9} {'version':7} {'median ms':>9} {'q1-q3 ms':>13}  requests a lift")
        for act, versions in LIFTS.items():
            room = Room(name=f"bench{act}", created_at=datetime.now(UTC), owner="alice")
            await store.create_room(room)

            async def prepare(i: int, n: int, act: str = act, room: Room = room) -> tuple[str, str]:
                user = names[2 * i + n]
                await give(store, act, room, user)
                return room.key, user

            await alternate(store, calls, act, versions, args.ops, prepare)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=150, help="lifts of each version per act")
    asyncio.run(main(parser.parse_args()))
