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

from torbit.backends.store.cassandra_cql import Cql, Params
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
