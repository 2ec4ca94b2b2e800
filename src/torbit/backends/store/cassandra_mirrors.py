"""The readers of CassandraStore's mirrored rows (user_rooms, room_roles, mutes): what they
show of a standing is checked against room_users, the standing itself, and a mirror row
that room_users disagrees with is passed over, then healed once it is old. A mixin over
RoomLiftsCql.

A lift writes its mirrors after its lightweight transaction (cassandra_room_lifts.py), and
an act given the room's creation writes them before its own (cassandra_room_acts.py): a
node dying between the two leaves a mirror showing a standing room_users does not have.
Every reader took the mirror's word: a room left (by a demoted server admin too) stayed
in `rooms_of`, which is the doors' "are you a member" check, so its talk and history
stayed open; a withdrawn invitation, a lifted ban stayed in the user's lists, which a
guest's rename carries to the new name; a lifted mute stayed in `mutes`, which every
node starting loads (cassright60, docs/security.md).

What a reader shows now is what room_users holds: each row a mirror shows is confirmed by
a read of its room_users row, sent together. A row it disagrees with is not shown; once
its write is older than `heal_after` (past any act in flight between its two writes, whose
mirror comes first) the mirror is written as room_users has it, timestamped just after
the stale value (`USING TIMESTAMP` its write time + 1): it overwrites that value and
nothing written after it, so an act on the pair since always wins.

What it costs: a reader of a user's rooms, invitations or bans reads one room_users row
per row it would show (in parallel); a room's admins, voiced members or bans, one per
user listed; the mutes a node loads at its start, one per running mute.

MISSING: a value room_users holds and the mirror lacks (an act's mirrors written, then its
transaction lost with its node: a kick that did not happen; a put-back, `_mirror`, racing
an act) is seen only where a reader reads the pair for another of its columns: a row of
`rooms_joined_by_right` showing by_right without member. There it is shown, and written
into the mirror once room_users' value is older than `heal_after`, at the time of the heal
(a mirror's unset value has no write time to go by: an act landing meanwhile may leave
the mirror showing more than room_users, which every reader passes over and heals). A
row that shows nothing the reader asks for is not read: finding what it lacks would cost
one room_users read per row of the user's partition (cass61, docs/security.md).
Where a reader heals an old value the mirror shows, the act that wrote it (and died before
its transaction) unset others in the same batch, at the same write time: a ban's mirrors
unset the invitation, so the invited user's lists lacked the room for good. The heal
writes every column an act's mirrors write as room_users has them, just after that write
time (`_as_room_users`): what that batch unset comes back, and nothing later is touched
(cass62).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from torbit.backends.store.cassandra_cql import Params, Row, from_us, to_us
from torbit.backends.store.cassandra_room_lifts import RoomLiftsCql
from torbit.core.models import Invitation, Mute

HEAL_AFTER = timedelta(minutes=5)  # many times an act's request timeout (5 s by default)
FLAGS = "member, admin, voiced, banned_at, invited_at, invited_by, mute_until, by_right, name"
Rows = list[Row]
ROLE_FLAGS = {"admin": "admin", "voiced": "voiced", "banned": "banned_at"}
# the user_rooms columns an act's mirrors write before its transaction (a mute's go with
# the mutes row, healed with it)
ACT_COLUMNS = ("member", "admin", "voiced", "banned_at", "invited_at", "invited_by")


class MirrorReadsCql(RoomLiftsCql):
    """Needs `cql` and `ks` (the keyspace) from CassandraStore."""

    heal_after = HEAL_AFTER

    async def _pairs(self, pairs: Sequence[tuple[str, str]], dated: Sequence[str] = ()) -> Rows:
        """room_users' rows of (room, user) `pairs` ({} for none), read together; with the
        write time of each column of `dated` (`wt_` and its name)."""
        times = "".join(f", WRITETIME({c}) AS wt_{c}" for c in dated)
        rows = await asyncio.gather(
            *(
                self.cql.one(
                    f"SELECT {FLAGS}{times} FROM {self.ks}.room_users "
                    "WHERE room_key = ? AND user_key = ?",
                    room_key,
                    user_key,
                )
                for room_key, user_key in pairs
            )
        )
        return [row or {} for row in rows]

    def _old(self, written: Any) -> bool:
        """Whether a mirror value written at `written` (µs) is past any act in flight."""
        age = to_us(datetime.now(UTC)) - int(written if written is not None else 0)
        return written is not None and age > self.heal_after // timedelta(microseconds=1)

    async def _user_rows(self, user_key: str, shows: tuple[str, ...], also: str = "") -> list[Row]:
        """The user's user_rooms rows with every column of `shows` set in room_users (with
        its values, and `also`'s column): the mirror's rows that show any of them are
        confirmed there, and an old value room_users does not hold is healed."""
        written = ", ".join(f"WRITETIME({c}) AS wt_{c}" for c in shows)
        columns = ", ".join(dict.fromkeys(("room_key", *shows, *filter(None, [also]))))
        rows = await self.cql.rows(
            f"SELECT {columns}, {written} FROM {self.ks}.user_rooms WHERE user_key = ?", user_key
        )
        rows = [r for r in rows if any(r[c] not in (None, False) for c in shows)]
        pairs = await self._pairs([(str(r["room_key"]), user_key) for r in rows], shows)
        kept, heals = [], list[tuple[str, Params]]()
        for row, pair in zip(rows, pairs, strict=True):
            wrong = [c for c in shows if row[c] not in (None, False) and pair.get(c) != row[c]]
            heals += [  # a value the mirror lacks, on a row read for another (MISSING above)
                (
                    f"UPDATE {self.ks}.user_rooms SET {c} = ? WHERE user_key = ? AND room_key = ?",
                    (pair[c], user_key, row["room_key"]),
                )
                for c in shows
                if row[c] in (None, False) and pair.get(c) not in (None, False)
                if self._old(pair.get(f"wt_{c}"))
            ]
            stale = [int(row[f"wt_{c}"]) for c in wrong if self._old(row[f"wt_{c}"])]
            if stale:  # and what the same dead act's batch unset with it (cass62)
                heals += self._as_room_users(user_key, str(row["room_key"]), pair, stale, wrong)
            if all(pair.get(c) not in (None, False) for c in shows):  # as room_users has it
                kept.append({**row, **{c: pair[c] for c in (*shows, also) if c in pair}})
        await self._heal(heals)
        return kept

    def _as_room_users(
        self,
        user_key: str,
        room_key: str,
        pair: Row,
        stale: Sequence[int],
        also: Sequence[str] = (),
    ) -> list[tuple[str, Params]]:
        """The pair's user_rooms row, in every column an act's mirrors write, and its admin
        and voice rows, as room_users has them, just after the newest of the `stale` write
        times of an old mirror value: the batch that wrote that value wrote (or unset) the
        others at the same time, so they are put right too (a ban's mirrors unset the
        invitation, the membership, the op: cass62), and nothing written after it is
        touched. (A ban row is deleted by it, never written: room_users has no name for it.)
        `also`: more user_rooms columns so (the stale ones a reader found)."""
        at, k = max(stale) + 1, self.ks
        columns = tuple(dict.fromkeys((*ACT_COLUMNS, *also)))
        sets = ", ".join(f"{c} = ?" for c in columns)
        writes: list[tuple[str, Params]] = [
            (
                f"UPDATE {k}.user_rooms USING TIMESTAMP ? SET {sets} "
                "WHERE user_key = ? AND room_key = ?",
                (at, *(pair.get(c) for c in columns), user_key, room_key),
            )
        ]
        for role, flag in ROLE_FLAGS.items():
            held = pair.get(flag) not in (None, False) and (role != "voiced" or pair.get("member"))
            if not held:
                writes.append(
                    (
                        f"DELETE FROM {k}.room_roles USING TIMESTAMP ? "
                        "WHERE room_key = ? AND role = ? AND user_key = ?",
                        (at, room_key, role, user_key),
                    )
                )
            elif role != "banned" and pair.get("name") is not None:
                writes.append(
                    (
                        f"INSERT INTO {k}.room_roles (room_key, role, user_key, name) "
                        "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
                        (room_key, role, user_key, pair["name"], at),
                    )
                )
        return writes

    async def _heal(self, writes: Sequence[tuple[str, Params]]) -> None:
        for statement, params in writes:  # each its own partition's, or its own cell's
            await self.cql.run(statement, *params)

    async def rooms_of(self, user_key: str) -> list[str]:
        return [str(r["room_key"]) for r in await self._user_rows(user_key, ("member",))]

    async def rooms_joined_by_right(self, user_key: str) -> list[str]:
        rows = await self._user_rows(user_key, ("member", "by_right"))
        return [str(r["room_key"]) for r in rows]

    async def last_entered(self, user_key: str) -> str | None:
        rows = await self._user_rows(user_key, ("member",), "entered_at")
        entered = [(r["entered_at"], str(r["room_key"])) for r in rows]
        return max((e for e in entered if e[0] is not None), default=(0, None))[1]

    async def invited_rooms(self, user_key: str) -> list[str]:
        return [str(r["room_key"]) for r in await self._user_rows(user_key, ("invited_at",))]

    async def invitations(self, user_key: str) -> list[Invitation]:
        rows = await self._user_rows(user_key, ("invited_at",), "invited_by")
        found = [
            Invitation(str(r["room_key"]), from_us(int(r["invited_at"])), r["invited_by"] or "")
            for r in rows
        ]
        return sorted(found, key=lambda i: (-i.at.timestamp(), i.room_key))

    async def banned_rooms(self, user_key: str) -> list[str]:
        return [str(r["room_key"]) for r in await self._user_rows(user_key, ("banned_at",))]

    async def _roles(self, room_key: str, role: str) -> list[Row]:
        """The room's role rows that room_users' flag holds (a voice: and the membership)."""
        rows = await self.cql.rows(
            f"SELECT user_key, name, WRITETIME(name) AS wt FROM {self.ks}.room_roles "
            "WHERE room_key = ? AND role = ?",
            room_key,
            role,
        )
        pairs = await self._pairs([(room_key, str(r["user_key"])) for r in rows])
        flag = ROLE_FLAGS.get(role)
        kept, heals = [], []
        for row, pair in zip(rows, pairs, strict=True):
            if flag is None or pair.get(flag) not in (None, False):
                kept.append(row)
            elif self._old(row["wt"]):  # the row goes, and what the same batch wrote with it
                heals += self._as_room_users(str(row["user_key"]), room_key, pair, [int(row["wt"])])
        await self._heal(heals)
        return kept

    async def active_mutes(self, now: datetime, of: tuple[str, str] | None = None) -> list[Mute]:
        """The running mutes of `mutes` that room_users' mute_until holds too."""
        cutoff, pair = to_us(now), " AND room_key = ? AND user_key = ?" if of else ""
        rows = await self.cql.rows(
            f"SELECT room_key, user_key, until, WRITETIME(until) AS wt FROM {self.ks}.mutes "
            f"WHERE bucket = 0{pair}",
            *(of or ()),
        )
        rows = [r for r in rows if int(r["until"]) > cutoff]
        pairs = await self._pairs([(str(r["room_key"]), str(r["user_key"])) for r in rows])
        kept, heals = [], []
        for row, standing in zip(rows, pairs, strict=True):
            until = standing.get("mute_until")
            if until == row["until"]:
                kept.append(Mute(str(row["room_key"]), str(row["user_key"]), from_us(until)))
            elif self._old(row["wt"]):
                heals += self._mute_heal(row, until)
        await self._heal(heals)
        return kept

    def _mute_heal(self, row: Row, until: int | None) -> list[tuple[str, Params]]:
        """The mutes row and user_rooms' mute_until (written with it, by the same batch) as
        room_users has them, just after the mutes row's write."""
        at, room_key, user_key = int(row["wt"]) + 1, row["room_key"], row["user_key"]
        mirror: tuple[str, Params] = (
            f"UPDATE {self.ks}.user_rooms USING TIMESTAMP ? SET mute_until = ? "
            "WHERE user_key = ? AND room_key = ?",
            (at, until, user_key, room_key),
        )
        if until is None:
            return [
                (
                    f"DELETE FROM {self.ks}.mutes USING TIMESTAMP ? "
                    "WHERE bucket = 0 AND room_key = ? AND user_key = ?",
                    (at, room_key, user_key),
                ),
                mirror,
            ]
        return [
            (
                f"INSERT INTO {self.ks}.mutes (bucket, room_key, user_key, until) "
                "VALUES (0, ?, ?, ?) USING TIMESTAMP ?",
                (room_key, user_key, until, at),
            ),
            mirror,
        ]
