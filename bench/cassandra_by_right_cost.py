"""What cassright60 costs on Cassandra (docs/security.md "cassright60"): a demotion's
removal of a membership held by right (`remove_member_by_right`) as main had it (a read of
user_rooms, then the leave: a read of room_users, a lightweight transaction, the mirrors'
batch) and as now (a read of room_users, the transaction `IF by_right = true`, the mirrors);
and a reader of a user's rooms (`rooms_of`, the doors' membership check) as main had it
(one read of user_rooms) and as now (and one read of room_users per room shown), for a user
in `--rooms` rooms. Old and new alternate, in the same minutes. On the tests' Cassandra node
(it starts one if none runs):

    PYTHONPATH=src:. .venv/bin/python bench/cassandra_by_right_cost.py --ops 150

Reported per act and version: the median latency, its quartiles, and the CQL requests one
sends, counted on the store's Cql object.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from cassandra_lifts_cost import alternate, counted_store
from torbit.backends.store.cassandra import CassandraStore
from torbit.core.models import Room

Act = Callable[[CassandraStore, str, str], Awaitable[object]]


async def old_remove_member_by_right(s: CassandraStore, room: str, user: str) -> bool:
    row = await s.cql.one(
        f"SELECT member, by_right FROM {s.ks}.user_rooms WHERE user_key = ? AND room_key = ?",
        user,
        room,
    )
    if row is None or not row["member"] or not row["by_right"]:
        return False
    return await s.remove_member(room, user)


async def old_rooms_of(s: CassandraStore, room: str, user: str) -> list[str]:
    rows = await s.cql.rows(
        f"SELECT room_key, member FROM {s.ks}.user_rooms WHERE user_key = ?", user
    )
    return [str(r["room_key"]) for r in rows if r["member"]]


ACTS: dict[str, tuple[Act, Act]] = {
    "by right": (old_remove_member_by_right, lambda s, r, u: s.remove_member_by_right(r, u)),
    "rooms_of": (old_rooms_of, lambda s, r, u: s.rooms_of(u)),
}


async def main(args: argparse.Namespace) -> None:
    async with counted_store(args.ops, "reader") as (store, calls, names):
        now = datetime.now(UTC)
        room = Room(name="bench", created_at=now, owner="alice", private=True)
        await store.create_room(room)
        await store.add_invite(room.key, "alice", now, "alice", room_created=room.created_at)
        for n in range(args.rooms):
            await store.create_room(Room(name=f"r{n}", created_at=now, owner="alice"))
            await store.add_member(f"r{n}", "reader")
        print(f"{'act':9} {'version':7} {'median ms':>9} {'q1-q3 ms':>13}  requests one")
        for act, versions in ACTS.items():

            async def prepare(i: int, n: int, act: str = act) -> tuple[str, str]:
                if act != "by right":
                    return room.key, "reader"
                user = names[2 * i + n]
                await store.add_member(room.key, user, by_right=True)
                return room.key, user

            await alternate(store, calls, act, versions, args.ops, prepare)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=150, help="acts of each version")
    parser.add_argument("--rooms", type=int, default=5, help="the reader's rooms")
    asyncio.run(main(parser.parse_args()))
