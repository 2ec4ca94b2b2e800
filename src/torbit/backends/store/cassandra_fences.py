"""The fences of CassandraStore's writes that name a room and a user against deleting either
(no transaction spans partitions). A deletion marks first, then reads what to remove: a
room's raises its `closing` flag and reads its members; a user's deletes the users row and
reads their rooms and lists. A writer writes first, then reads that mark: either the
deletion's read found the write, or the writer finds the mark and takes its write back
(NotFound, as SQL's foreign keys refuse such a row). With quorum reads one of the two always
sees the other. Joins had the room's half since the start; until stop 54 every other write
(an invitation, an op or a voice, a ban, a mute, a mask, an ignore) had neither, and the one
that landed after the deletion's read stayed: whoever made the room again, or registered
the name again, inherited it (an admin of someone else's room, an invitation to it)."""

from __future__ import annotations

import asyncio
import time

from torbit.backends.store.cassandra_cql import Cql, Params, Row
from torbit.errors import NotFound, ServiceUnavailable

CLOSING_TTL_S = 60  # a deleter that died stops fencing writes after this
CLOSING_POLL_S = 0.05


async def room_stays(cql: Cql, ks: str, room_key: str) -> bool:
    """After a write into the room: wait while it is closing (a sweep of empty rooms may
    back off); False once it is gone. ServiceUnavailable if it stays closing past the
    flag's TTL."""
    deadline = time.monotonic() + CLOSING_TTL_S + 5
    while True:
        row = await cql.one(f"SELECT closing FROM {ks}.rooms WHERE key = ?", room_key)
        if row is None:
            return False
        if not row["closing"]:
            return True
        if time.monotonic() > deadline:
            raise ServiceUnavailable("storage unavailable: the room is being deleted")
        await asyncio.sleep(CLOSING_POLL_S)


async def user_stays(cql: Cql, ks: str, user_key: str) -> bool:
    return await cql.one(f"SELECT key FROM {ks}.users WHERE key = ?", user_key) is not None


def unpair_writes(ks: str, room_key: str, user_key: str) -> list[tuple[str, Params]]:
    """Everything of the user in the room: both sides of the pair, roles, mute."""
    return [
        (f"DELETE FROM {ks}.room_users WHERE room_key = ? AND user_key = ?", (room_key, user_key)),
        (f"DELETE FROM {ks}.user_rooms WHERE user_key = ? AND room_key = ?", (user_key, room_key)),
        (
            f"DELETE FROM {ks}.mutes WHERE bucket = 0 AND room_key = ? AND user_key = ?",
            (room_key, user_key),
        ),
        *(
            (
                f"DELETE FROM {ks}.room_roles WHERE room_key = ? AND role = ? AND user_key = ?",
                (room_key, role, user_key),
            )
            for role in ("admin", "banned", "voiced")
        ),
    ]


async def fence_pair(cql: Cql, ks: str, room_key: str, user_key: str) -> None:
    """After a write of the user's standing in the room (a join, an invitation, an op, a
    voice, a ban, a mute): if the room or the user went meanwhile, take it all back."""
    try:
        if await room_stays(cql, ks, room_key) and await user_stays(cql, ks, user_key):
            return
    except ServiceUnavailable:
        await cql.batch(unpair_writes(ks, room_key, user_key))
        raise
    await cql.batch(unpair_writes(ks, room_key, user_key))
    raise NotFound(f"no room {room_key!r} or no user {user_key!r}")


# The room's generation: room_users' static column `room_created` (migration 17), the
# creation time of the room whose rows the partition holds, checked by the lightweight
# transaction of an act given the room's creation (cassandra_room_acts.py). Only Paxos
# writes it: set by the first such act, cleared by the room's deletion before it reads the
# members. Not at the room's creation: a join that makes a room pays no Paxos round more.


async def settle_generation(cql: Cql, ks: str, room_key: str, created: int) -> bool:
    """Make `created` the room's generation, if the rooms row is of that creation and not
    closing (asked before and after the set: a deletion raising `closing` after the second
    read clears it after this set; one before is seen, and the set taken back). Called by
    an act whose check of the generation failed: the room has none yet (its first act), or
    one of a room deleted before whose clear was passed by a late set. Three reads and one
    LWT, once a room."""
    same = f"SELECT created_at, closing FROM {ks}.rooms WHERE key = ?"

    def ours(row: Row | None) -> bool:
        return row is not None and row["created_at"] == created and not row["closing"]

    if not ours(await cql.one(same, room_key)):
        return False
    now = await cql.one(
        f"SELECT room_created FROM {ks}.room_users WHERE room_key = ? LIMIT 1", room_key
    )
    held = (now or {}).get("room_created")
    if held != created:  # none, or a room's gone before (a set that came late: overwritten)
        await cql.lwt(
            f"UPDATE {ks}.room_users SET room_created = ? WHERE room_key = ? IF room_created = ?",
            created,
            room_key,
            held,
        )
    if ours(await cql.one(same, room_key)):
        return True
    await clear_generation(cql, ks, room_key, created)
    return False


async def clear_generation(cql: Cql, ks: str, room_key: str, created: int | None) -> None:
    """The room of `created` is being deleted (its `closing` raised): from now on no act
    for it applies. One LWT."""
    if created is not None:
        await cql.lwt(
            f"UPDATE {ks}.room_users SET room_created = null WHERE room_key = ? "
            "IF room_created = ?",
            room_key,
            created,
        )
