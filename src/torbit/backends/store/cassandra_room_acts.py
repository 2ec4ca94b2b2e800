"""The acts of CassandraStore on a user's standing in a room that may be given the room's
creation (`room_created`: Store.expel, set_mute, add_invite, set_room_admin, set_voice; an
unmute's is cassandra_room_lifts.py's): a kick or ban, a mute, an invitation, an op or a
voice, for the room the caller checked and no other. A mixin over RoomModerationCql.

On SQL the check of the room's row and the write are one transaction. Here the room's row
and the user's standing are different partitions, and the check was a read before the
write: a deletion and a room made again under the name between the two took the act (the
new owner's private room got the old room's invitation, ban, mute, op or voice, or lost
the kicked member: stop 58, "Cassandra races" in docs/security.md). So room_users, the
standing's own partition, carries the room's creation as a static column (`room_created`,
the room's generation: migration 17), set by the first such act while the rooms row is of that
creation, and cleared by its deletion before it reads the members (cassandra_fences.py),
and the act writes its room_users row by a lightweight transaction `IF room_created = ?`:
Paxos orders it with the clear, so it either applies before (and the deletion's read finds
it) or not at all (NotFound).

What it costs: the act's room_users write is a Paxos round (four round trips to a quorum of
replicas instead of one) where it was a logged batch: measured on one Cassandra 5.0.9 node
on a 2-core machine at load 7-8, medians of 150 acts, a mute 2.7 -> 4.1 ms, a ban 3.3 ->
4.8 ms, and a room's first such act, which settles its generation (a read more, an LWT
more), an invitation 3.0 -> 9.6 ms. The acts are moderation, rare next to messages; a
message's path, a join and a room's creation write none of this.
The mirrored rows (user_rooms, room_roles, mutes) are written first, in a logged batch: an
act that does not apply puts them back as room_users has them (`_mirror`), so nothing of it
stays in the room there now; a node dying in between leaves them so (their readers confirm
what they show in room_users, and heal it: cassandra_mirrors.py). Without `room_created`
(a rename's own copy of the old name's standing, a mask's kick) an act writes as before: a
read, then one logged batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from torbit.backends.store.cassandra_cql import Params, Row, to_us
from torbit.backends.store.cassandra_fences import fence_pair, settle_generation
from torbit.backends.store.cassandra_rooms import RoomModerationCql
from torbit.errors import NotFound

Writes = list[tuple[str, Params]]


class RoomActsCql(RoomModerationCql):
    """Needs `cql` and `ks` (the keyspace) from CassandraStore."""

    async def _in_room(
        self,
        room_key: str,
        user_key: str,
        created: datetime,
        values: dict[str, Any],
        mirrors: Writes,
        also: str = "",
    ) -> tuple[bool, Row]:
        """Write the mirrors, then the user's room_users row `IF room_created = created`
        (`also`: more conditions, literal): whether it applied, and the row's checked
        columns as they are when it did not. NotFound, the mirrors put back, if the room
        there is not of `created`. A room without a generation (no such act yet) gets it
        first, if its rooms row is of `created` (settle_generation)."""
        if mirrors:
            await self.cql.batch(mirrors)
        made = to_us(created)
        sets = ", ".join(f"{c} = ?" for c in values)
        cql = (
            f"UPDATE {self.ks}.room_users SET {sets} WHERE room_key = ? AND user_key = ? "
            f"IF room_created = ?{also}"
        )
        for attempt in range(2):
            applied, row = await self.cql.lwt(cql, *values.values(), room_key, user_key, made)
            if applied or row.get("room_created") == made:
                return applied, row
            if attempt or not await settle_generation(self.cql, self.ks, room_key, made):
                break
        await self._mirror(room_key, user_key)
        raise NotFound(f"no room {room_key!r} (it was deleted meanwhile)")

    async def _mirror(self, room_key: str, user_key: str) -> None:
        """user_rooms, room_roles and mutes as room_users has the pair now: what an act
        wrote there ahead of a room_users write that did not apply goes (an act on the
        pair landing between this read and write is mirrored as read: rare, and the
        standing itself is room_users')."""
        k = self.ks
        pair = await self.cql.one(
            f"SELECT member, admin, voiced, banned_at, invited_at, invited_by, mute_until "
            f"FROM {k}.room_users WHERE room_key = ? AND user_key = ?",
            room_key,
            user_key,
        )
        pair = pair or {}
        user = await self.cql.one(f"SELECT name FROM {k}.users WHERE key = ?", user_key)
        name = str((user or {}).get("name") or user_key)
        columns = ("member", "admin", "voiced", "banned_at", "invited_at", "invited_by")
        values = {c: pair.get(c) for c in (*columns, "mute_until")}
        sets = ", ".join(f"{c} = ?" for c in values)
        until = values["mute_until"]
        writes: Writes = [
            (
                f"UPDATE {k}.user_rooms SET {sets} WHERE user_key = ? AND room_key = ?",
                (*values.values(), user_key, room_key),
            ),
            *(
                self._role_write(room_key, role, user_key, name if pair.get(flag) else None)
                for role, flag in (
                    ("admin", "admin"),
                    ("voiced", "voiced"),
                    ("banned", "banned_at"),
                )
            ),
            (
                (
                    f"INSERT INTO {k}.mutes (bucket, room_key, user_key, until) "
                    "VALUES (0, ?, ?, ?)",
                    (room_key, user_key, until),
                )
                if until is not None
                else (
                    f"DELETE FROM {k}.mutes WHERE bucket = 0 AND room_key = ? AND user_key = ?",
                    (room_key, user_key),
                )
            ),
        ]
        await self.cql.batch(writes)

    async def _changed_in(
        self,
        room_key: str,
        user_key: str,
        created: datetime,
        values: dict[str, Any],
        extra: Writes,
        also: str,
    ) -> bool:
        """`_in_room` with its mirrors (user_rooms and `extra`): whether it applied; when
        `also` did not hold (another act came first), the mirrors are put back."""
        mirrors = self._user_rooms_write(room_key, user_key, values) + extra
        applied, _ = await self._in_room(room_key, user_key, created, values, mirrors, also)
        if not applied:
            await self._mirror(room_key, user_key)
        return applied

    async def set_room_admin(
        self, room_key: str, user_key: str, is_admin: bool, *, room_created: datetime | None = None
    ) -> bool:
        """With `room_created`, in that room only, and of grants (or revocations) racing on
        several nodes one says it changed anything (`IF admin = null`, `IF admin = true`)."""
        name = None
        if is_admin or room_created is not None:
            name = await self._both_exist(room_key, user_key, room_created)
        if bool((await self._pair(room_key, user_key)).get("admin")) == is_admin:
            return False
        values = {"admin": True if is_admin else None}
        role = [self._role_write(room_key, "admin", user_key, name if is_admin else None)]
        if room_created is None:
            await self._set_pair(room_key, user_key, values, role)
        else:
            also = " AND admin = null" if is_admin else " AND admin = true"
            if not await self._changed_in(room_key, user_key, room_created, values, role, also):
                return False
        if is_admin:
            await fence_pair(self.cql, self.ks, room_key, user_key)
        return True

    async def set_voice(
        self, room_key: str, user_key: str, voiced: bool, *, room_created: datetime | None = None
    ) -> bool:
        """With `room_created`, in that room only; a voice given only while a member there
        (`IF member = true AND voiced = null`), so a kick racing it leaves nobody voiced."""
        pair = await self._pair(room_key, user_key)
        if not pair.get("member") or bool(pair.get("voiced")) == voiced:
            return False
        name = None
        if voiced or room_created is not None:
            name = await self._both_exist(room_key, user_key, room_created)
        values = {"voiced": True if voiced else None}
        role = [self._role_write(room_key, "voiced", user_key, name if voiced else None)]
        if room_created is None:
            await self._set_pair(room_key, user_key, values, role)
        else:
            also = " AND member = true AND voiced = null" if voiced else " AND voiced = true"
            if not await self._changed_in(room_key, user_key, room_created, values, role, also):
                return False
        if voiced:
            await fence_pair(self.cql, self.ks, room_key, user_key)
        return True

    def _user_rooms_write(self, room_key: str, user_key: str, values: dict[str, Any]) -> Writes:
        sets = ", ".join(f"{c} = ?" for c in values)
        return [
            (
                f"UPDATE {self.ks}.user_rooms SET {sets} WHERE user_key = ? AND room_key = ?",
                (*values.values(), user_key, room_key),
            )
        ]

    async def expel(
        self,
        room_key: str,
        user_key: str,
        *,
        banned_at: datetime | None = None,
        room_created: datetime | None = None,
    ) -> bool:
        """The membership's end is a lightweight transaction (`IF member = true`), so that
        of kicks or bans racing on several nodes one says it ended it, as SQL's delete does
        (stop 49: both answered 204 and wrote an audit entry and a notice each); with
        `room_created` it is also the room's (`_in_room`), and a second one, `IF member =
        null`, writes the rest (the ban, the end of an invitation) when the user was no
        member; a join between the two is ended by the first again, which says so. A join's
        flag is a transaction too (cass63: written plainly, a join from a node whose clock ran
        ahead outlived a ban after it, and one from a node behind was lost to a kick before
        it). by_right
        ends with the membership in room_users, as SQL's row goes (cass61: it stayed, and
        each demotion's `rooms_joined_by_right` read the pair again for nothing); user_rooms'
        copy is left to that reader, which heals it once old: a node dying between this
        kick's mirrors and its transaction leaves the flag there, by which the demotion
        still finds the membership that room_users holds."""
        name = None
        if banned_at is not None or room_created is not None:
            name = await self._both_exist(room_key, user_key, room_created)
            name = name if banned_at is not None else None
        pair = await self._pair(room_key, user_key)
        values: dict[str, Any] = {
            "member": None,
            "admin": None,
            "voiced": None,
            "invited_at": None,
            "invited_by": None,
        }
        extra = [self._role_write(room_key, r, user_key, None) for r in ("admin", "voiced")]
        if banned_at is not None and pair.get("banned_at") is None:
            values["banned_at"] = to_us(banned_at)
            extra.append(self._role_write(room_key, "banned", user_key, name))
        if room_created is not None:
            ended = await self._expel_in(room_key, user_key, room_created, pair, values, extra)
        else:
            ended = await self._expel_any(room_key, user_key, pair, values, extra)
        if "banned_at" in values:
            await fence_pair(self.cql, self.ks, room_key, user_key)
        return ended

    async def _expel_any(
        self, room_key: str, user_key: str, pair: Row, values: dict[str, Any], extra: Writes
    ) -> bool:
        ended = False
        if pair.get("member"):
            ended, _ = await self.cql.lwt(
                f"UPDATE {self.ks}.room_users SET member = null, by_right = null "
                "WHERE room_key = ? AND user_key = ? IF member = true",
                room_key,
                user_key,
            )
        if pair or "banned_at" in values:
            await self._set_pair(room_key, user_key, values, extra, name=None, by_right=None)
        return ended

    async def _expel_in(
        self,
        room_key: str,
        user_key: str,
        created: datetime,
        pair: Row,
        values: dict[str, Any],
        extra: Writes,
    ) -> bool:
        if not pair and "banned_at" not in values:
            return False
        mirrors = self._user_rooms_write(room_key, user_key, values) + extra
        mine = {**values, "name": None, "by_right": None}  # room_users' alone
        member = bool(pair.get("member"))
        for _ in range(3):
            # the membership's end, or the rest (a ban) while there is none: a join landing
            # between the two is ended by the first, which says so, never by the second
            # (it was, the kick saying False: cass61)
            also = " AND member = true" if member else " AND member = null"
            applied, _ = await self._in_room(room_key, user_key, created, mine, mirrors, also)
            if applied:
                return member
            member = not member
        # the membership flipped at each try (a join and a leave timed into each round
        # trip): written whatever it is now, and said ended, so the room and the member's
        # sessions are told (cass62: False here put him out unsaid, his sessions listening
        # on and a kick answered "not a member"); one who left just before is told a kick
        await self._in_room(room_key, user_key, created, mine, mirrors)
        return True

    async def set_mute(
        self, room_key: str, user_key: str, until: datetime, *, room_created: datetime | None = None
    ) -> None:
        await self._both_exist(room_key, user_key, room_created)
        k, value = self.ks, to_us(until)
        mutes: Writes = [
            (
                f"INSERT INTO {k}.mutes (bucket, room_key, user_key, until) VALUES (0, ?, ?, ?)",
                (room_key, user_key, value),
            )
        ]
        if room_created is None:
            await self.cql.batch([*mutes, *self._mute_writes(room_key, user_key, value)])
        else:
            mirrors = mutes + self._user_rooms_write(room_key, user_key, {"mute_until": value})
            await self._in_room(room_key, user_key, room_created, {"mute_until": value}, mirrors)
        await fence_pair(self.cql, self.ks, room_key, user_key)

    async def add_invite(
        self,
        room_key: str,
        user_key: str,
        at: datetime,
        by: str = "",
        *,
        room_created: datetime | None = None,
    ) -> bool:
        """With `room_created`, `IF invited_at = null` as well: of invitations racing on
        several nodes one is new (True), as on SQL."""
        await self._both_exist(room_key, user_key, room_created)
        if (await self._pair(room_key, user_key)).get("invited_at") is not None:
            return False
        values = {"invited_at": to_us(at), "invited_by": by or None}
        if room_created is None:
            await self._set_pair(room_key, user_key, values)
        else:
            mirrors = self._user_rooms_write(room_key, user_key, values)
            new, _ = await self._in_room(
                room_key, user_key, room_created, values, mirrors, " AND invited_at = null"
            )
            if not new:  # another's came first: its time and inviter stay on both sides
                await self._mirror(room_key, user_key)
                return False
        await fence_pair(self.cql, self.ks, room_key, user_key)
        return True
