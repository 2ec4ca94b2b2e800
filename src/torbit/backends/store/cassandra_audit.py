"""The audit log and the sequences of CassandraStore (torbit.core.ports.Store): numbered
entries, newest first, of all rooms or of one, and their retention. A mixin.

Ids come from a compare-and-set sequence (rarely contended: moderation is rare). Entries live
twice: audit_log, in partitions of 65,536 consecutive ids (`bucket` = id >> 16), for the
newest entries of every room; audit_by_room for those of one room. Purging reads the log
oldest bucket first and deletes a bucket whose entries are all old as one partition, so the
next reads meet one partition tombstone rather than 65,536 row tombstones.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from torbit.backends.store.cassandra_cql import Cql, Params, Row, from_us, to_us
from torbit.core.models import AuditEntry

BUCKET_BITS = 16  # audit_log and revocations partitions hold 65,536 consecutive ids each
PURGE_BATCH = 50


class AuditCql:
    """Needs `cql` and `ks` (the keyspace) from CassandraStore."""

    cql: Cql
    ks: str

    async def _next_serial(self, name: str) -> int:
        """The next number of a sequence (the audit log's ids, revocation serials):
        compare-and-set until ours applies. Both are written rarely, so contention is rare."""
        while True:
            row = await self.cql.one(f"SELECT value FROM {self.ks}.sequences WHERE name = ?", name)
            if row is None:
                applied, _ = await self.cql.lwt(
                    f"INSERT INTO {self.ks}.sequences (name, value) VALUES (?, 1) IF NOT EXISTS",
                    name,
                )
                if applied:
                    return 1
                continue
            current = int(row["value"])
            applied, _ = await self.cql.lwt(
                f"UPDATE {self.ks}.sequences SET value = ? WHERE name = ? IF value = ?",
                current + 1,
                name,
                current,
            )
            if applied:
                return current + 1

    async def _last_serial(self, name: str) -> int:
        row = await self.cql.one(f"SELECT value FROM {self.ks}.sequences WHERE name = ?", name)
        return int(row["value"]) if row is not None else 0

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        new_id = await self._next_serial("audit")
        k, at = self.ks, to_us(entry.at)
        writes: list[tuple[str, Params]] = [
            (
                f"INSERT INTO {k}.audit_log (bucket, id, at, actor, action, room, target, detail) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new_id >> BUCKET_BITS,
                    new_id,
                    at,
                    entry.actor,
                    entry.action,
                    entry.room,
                    entry.target,
                    entry.detail,
                ),
            )
        ]
        if entry.room is not None:
            writes.append(
                (
                    f"INSERT INTO {k}.audit_by_room (room, id, at, actor, action, target, detail) "
                    f"VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (entry.room, new_id, at, entry.actor, entry.action, entry.target, entry.detail),
                )
            )
        await self.cql.batch(writes)
        return replace(entry, id=new_id)

    async def list_audit(self, room_key: str | None = None, limit: int = 100) -> list[AuditEntry]:
        k = self.ks
        if room_key is not None:
            rows = await self.cql.rows(
                f"SELECT id, at, actor, action, target, detail "
                f"FROM {k}.audit_by_room WHERE room = ? LIMIT ?",
                room_key,
                limit,
            )
            return [_entry(r, room_key) for r in rows]
        out: list[AuditEntry] = []
        top = await self._last_serial("audit")
        bucket = top >> BUCKET_BITS if top else -1
        while bucket >= 0 and len(out) < limit:
            rows = await self.cql.rows(
                f"SELECT id, at, actor, action, room, target, detail "
                f"FROM {k}.audit_log WHERE bucket = ? LIMIT ?",
                bucket,
                limit - len(out),
            )
            out += [_entry(r, r["room"]) for r in rows]
            bucket -= 1
        return out

    async def purge_audit(self, older_than: datetime) -> int:
        """Every bucket is read (entries carry their own time, which need not follow the
        ids); this runs now and then from retention, off every request's path, over a log
        that grows with moderation actions only."""
        k, cutoff = self.ks, to_us(older_than)
        top = await self._last_serial("audit")
        purged = 0
        for bucket in range((top >> BUCKET_BITS) + 1 if top else 0):
            rows = await self.cql.rows(
                f"SELECT id, at, room FROM {k}.audit_log WHERE bucket = ?", bucket
            )
            old = [r for r in rows if int(r["at"]) < cutoff]
            if not old:
                continue
            writes: list[tuple[str, Params]] = [
                (f"DELETE FROM {k}.audit_by_room WHERE room = ? AND id = ?", (r["room"], r["id"]))
                for r in old
                if r["room"] is not None
            ]
            if len(old) == len(rows) and bucket < top >> BUCKET_BITS:
                writes.append((f"DELETE FROM {k}.audit_log WHERE bucket = ?", (bucket,)))
            else:
                writes += [
                    (f"DELETE FROM {k}.audit_log WHERE bucket = ? AND id = ?", (bucket, r["id"]))
                    for r in old
                ]
            for start in range(0, len(writes), PURGE_BATCH):
                await self.cql.batch(writes[start : start + PURGE_BATCH])
            purged += len(old)
        return purged


def _entry(row: Row, room: str | None) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=from_us(int(row["at"])),
        actor=str(row["actor"]),
        action=str(row["action"]),
        room=room,
        target=row["target"],
        detail=row["detail"] or "",
    )
