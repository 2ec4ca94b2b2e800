"""The audit log of SqlStore (torbit.core.ports.Store): numbered entries of what owners,
admins and server admins did, newest first, of all rooms or of one, and their retention.
A part, as cassandra_audit.py is CassandraStore's."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import delete, select

from torbit.backends.store.schema import audit_log
from torbit.backends.store.sql_connections import SqlConnections
from torbit.core.models import AuditEntry


class AuditSql(SqlConnections):
    """On SqlStore's connections (sql_connections.py)."""

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        values = {
            "at": entry.at,
            "actor": entry.actor,
            "action": entry.action,
            "room": entry.room,
            "target": entry.target,
            "detail": entry.detail,
        }
        async with self._write() as conn:
            result = await conn.execute(audit_log.insert().returning(audit_log.c.id), values)
            new_id = result.scalar_one()
        return replace(entry, id=new_id)

    async def purge_audit(self, older_than: datetime) -> int:
        async with self._write() as conn:
            result = await conn.execute(delete(audit_log).where(audit_log.c.at < older_than))
        return int(result.rowcount)

    async def list_audit(self, room_key: str | None = None, limit: int = 100) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if room_key is not None:
            query = query.where(audit_log.c.room == room_key)
        async with self._read() as conn:
            return [
                AuditEntry(
                    id=r.id,
                    at=r.at,
                    actor=r.actor,
                    action=r.action,
                    room=r.room,
                    target=r.target,
                    detail=r.detail,
                )
                for r in await conn.execute(query)
            ]
