"""The acts of CassandraStore that take a user's standing in a room away (Store.unban,
remove_invite, remove_mute, remove_member, remove_member_by_right, admit_member): each
says it lifted the standing at most once when several run at once, as SQL's delete does
(one finds the row), and never lifts a standing of a room made again under the name. A
mixin over RoomActsCql.

They read the flag, then wrote its removal in a logged batch: two at once on two nodes both
read it set and both answered True (two audit entries, two notices), and one held between its
read and write while the room was deleted and made again took the new room's ban, invitation,
mute or membership (stop 59, "Cassandra lifts (cass59)" in docs/security.md). Now the removal
of the room_users row's flag is a lightweight transaction on the value read (`IF banned_at =
?`, `invited_at = ?`, `mute_until = ?`: a standing given again, in this room or one made
again, has another time; a leave `IF member = true`, and of the room's generation read with
it when the room has one, cassandra_room_acts.py), so Paxos lets one of them apply. Only the
one that applied writes the mirrored rows (user_rooms, room_roles, mutes), after it, in a
logged batch timestamped from before the transaction: an act on the pair after the lift (the
room made again and the standing given there) wins over them in whatever order they land.
A node dying between the two leaves the mirrors showing the standing: their readers confirm
what they show in room_users, and heal it (cassandra_mirrors.py, cassright60).

What it costs: the room_users write is a Paxos round where it was a part of the batch
(docs/security.md has the numbers); a lift of nothing is one read, as before, and a lift
that another came before writes nothing more.

A leave for a room without a generation (no act given the room's creation since it was made)
still lands in a room made again under the name while it was held, as SQL's delete does: the
user is out of the new room, and no right is gained.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from torbit.backends.store.cassandra_cql import to_us
from torbit.backends.store.cassandra_fences import settle_generation
from torbit.backends.store.cassandra_room_acts import RoomActsCql, Writes
from torbit.errors import NotFound


class RoomLiftsCql(RoomActsCql):
    """Needs `cql` and `ks` (the keyspace) from CassandraStore."""

    async def _lift(
        self,
        room_key: str,
        user_key: str,
        values: Sequence[str],
        held: dict[str, Any],
        *,
        roles: tuple[str, ...] = (),
        unmute: bool = False,
        room_only: tuple[str, ...] = (),
        user_only: tuple[str, ...] = (),
        created: datetime | None = None,
    ) -> bool:
        """Unset `values` (and the `room_only` columns) in the room_users row `IF` each
        column of `held` is as read, then, if it applied, on the mirrors: `values` (and
        `user_only`) in user_rooms, the `roles` rows, the mutes row if `unmute`. Whether it
        applied. The mirrors' writes are timestamped from before the transaction, so an act
        on the pair after it (a room made again, a ban there) wins over them whenever they
        land (as every write here, it needs the nodes' clocks in step: NTP). `created`: in
        the room of that creation only (its generation, settled first if the room has none
        yet, cassandra_room_acts.py), else NotFound."""
        k, at = self.ks, to_us(datetime.now(UTC))
        made = None if created is None else to_us(created)
        if made is not None:
            held = {**held, "room_created": made}
        sets = ", ".join(f"{c} = null" for c in (*values, *room_only))
        conditions = " AND ".join(f"{c} = ?" for c in held)
        cql = (
            f"UPDATE {k}.room_users SET {sets} WHERE room_key = ? AND user_key = ? IF {conditions}"
        )
        for attempt in range(2):
            applied, row = await self.cql.lwt(cql, room_key, user_key, *held.values())
            if applied or made is None or row.get("room_created") == made:
                break
            if attempt or not await settle_generation(self.cql, k, room_key, made):
                raise NotFound(f"no room {room_key!r} (it was deleted meanwhile)")
        if not applied:
            return False
        mirror = ", ".join(f"{c} = null" for c in (*values, *user_only))
        writes: Writes = [
            (
                f"UPDATE {k}.user_rooms USING TIMESTAMP ? SET {mirror} "
                "WHERE user_key = ? AND room_key = ?",
                (at, user_key, room_key),
            ),
            *(
                (
                    f"DELETE FROM {k}.room_roles USING TIMESTAMP ? "
                    "WHERE room_key = ? AND role = ? AND user_key = ?",
                    (at, room_key, role, user_key),
                )
                for role in roles
            ),
        ]
        if unmute:
            writes.append(
                (
                    f"DELETE FROM {k}.mutes USING TIMESTAMP ? "
                    "WHERE bucket = 0 AND room_key = ? AND user_key = ?",
                    (at, room_key, user_key),
                )
            )
        await self.cql.batch(writes)
        return True

    async def unban(self, room_key: str, user_key: str) -> bool:
        """True for the unban that lifted this ban (`IF banned_at = ` its time)."""
        banned_at = (await self._pair(room_key, user_key)).get("banned_at")
        if banned_at is None:
            return False
        held = {"banned_at": banned_at}
        return await self._lift(room_key, user_key, ["banned_at"], held, roles=("banned",))

    async def remove_invite(self, room_key: str, user_key: str) -> bool:
        """True for the withdrawal that ended this invitation (`IF invited_at = ` its time)."""
        invited_at = (await self._pair(room_key, user_key)).get("invited_at")
        if invited_at is None:
            return False
        values = ("invited_at", "invited_by")
        return await self._lift(room_key, user_key, values, {"invited_at": invited_at})

    async def remove_mute(
        self, room_key: str, user_key: str, now: datetime, *, room_created: datetime | None = None
    ) -> bool:
        """True for the unmute that ended a mute running at `now` (`IF mute_until = ` its
        end); an expired mute goes too, but does not count, as on SQL. A mutes row with no
        mute in room_users (an act's mirror left by a node that died before its room_users
        write, or a lift's not yet deleted) goes by a transaction on the mutes row alone
        (`IF until = ` its end) and does not count either: room_users is the mute, and no
        reader shows that row (cassandra_mirrors.py). Counted, an unmute reading the row
        while another's lift was between its transaction and its mirrors said True too
        (ci164: 2 of 8 rounds). With `room_created`, in that room only (tidy59): NotFound
        if the room is another."""
        k = self.ks
        pair, row = await asyncio.gather(
            self._pair(room_key, user_key),
            self.cql.one(
                f"SELECT until FROM {k}.mutes WHERE bucket = 0 AND room_key = ? AND user_key = ?",
                room_key,
                user_key,
            ),
        )
        until = pair.get("mute_until")
        if until is None:
            if room_created is not None:  # nothing of this room's to lift, or no such room
                await self._both_exist(room_key, user_key, room_created)
            if row is None:
                return False
            await self.cql.lwt(  # that row only: a mute given again has another end
                f"DELETE FROM {k}.mutes WHERE bucket = 0 AND room_key = ? AND user_key = ? "
                "IF until = ?",
                room_key,
                user_key,
                row["until"],
            )
            return False
        held = {"mute_until": until}
        lifted = await self._lift(
            room_key, user_key, ("mute_until",), held, unmute=True, created=room_created
        )
        return lifted and int(until) > to_us(now)

    async def remove_member(self, room_key: str, user_key: str) -> bool:
        """The membership and its admin and voice flags (with their room_roles rows): True
        for the leave that ended it (`IF member = true`, and of the room's generation read
        with it if it has one: a room made again under the name has another)."""
        held = await self._membership(room_key, user_key)
        if held is None:
            return False
        return await self._end_membership(room_key, user_key, held)  # and by_right, if set

    async def remove_member_by_right(self, room_key: str, user_key: str) -> bool:
        """`remove_member` `IF member = true AND by_right = true` (and of the generation):
        an admission, a leave and an ordinary join again, or a room made again and joined,
        landing after the read is not overtaken, as on SQL (cassright60)."""
        held = await self._membership(room_key, user_key, by_right=True)
        if held is None:
            return False
        return await self._end_membership(room_key, user_key, held)

    async def admit_member(self, room_key: str, user_key: str) -> bool:
        """by_right unset `IF member = true AND by_right = true` (and of the generation):
        of admissions at once, and of an admission and a removal by right, one applies."""
        held = await self._membership(room_key, user_key, by_right=True)
        if held is None:
            return False
        return await self._lift(room_key, user_key, ("by_right",), held)

    async def _membership(
        self, room_key: str, user_key: str, *, by_right: bool = False
    ) -> dict[str, Any] | None:
        """The conditions on a membership there now (by the right alone, if `by_right`),
        with the room's generation if it has one; None if there is no such membership."""
        row = await self.cql.one(
            f"SELECT member, by_right, room_created FROM {self.ks}.room_users "
            "WHERE room_key = ? AND user_key = ?",
            room_key,
            user_key,
        )
        if row is None or not row.get("member") or (by_right and not row.get("by_right")):
            return None
        held: dict[str, Any] = {"member": True}
        if by_right:
            held["by_right"] = True
        if row.get("room_created") is not None:
            held["room_created"] = row["room_created"]
        return held

    async def _end_membership(self, room_key: str, user_key: str, held: dict[str, Any]) -> bool:
        return await self._lift(
            room_key,
            user_key,
            ("member", "admin", "voiced", "by_right"),
            held,
            roles=("admin", "voiced"),
            room_only=("name",),
            user_only=("entered_at",),  # goes with the membership, as on SQL (its column)
        )
