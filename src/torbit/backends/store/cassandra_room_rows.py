"""A rooms row of Cassandra and back: its columns, in the order the room's settings and
topic write them, and a Room read from a row written by any schema version."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from torbit.backends.store.cassandra_cql import Row, from_us, to_us
from torbit.core.models import Room, RoomSettings

SETTINGS_COLUMNS = "join_key, member_limit, topic_lock, no_external, moderated"
TOPIC_COLUMNS = "topic, topic_set_by, topic_set_at"  # the setter and time: schema version 6
ROOM_COLUMNS = f"name, created_at, owner, private, {SETTINGS_COLUMNS}, {TOPIC_COLUMNS}"


def topic_values(topic: str, by: str, at: datetime | None) -> dict[str, Any]:
    """The topic's columns (TOPIC_COLUMNS): no setter and no time without a topic."""
    if not topic:
        return {"topic": "", "topic_set_by": None, "topic_set_at": None}
    at_us = to_us(at) if at is not None else None
    return {"topic": topic, "topic_set_by": by or None, "topic_set_at": at_us}


def room_of(row: Row) -> Room:
    """Rooms written before migration 3 have no settings: null reads as the defaults; a topic
    set before migration 6 has no setter or time."""
    default = RoomSettings()
    return Room(
        name=str(row["name"]),
        created_at=from_us(int(row["created_at"])),
        owner=row["owner"],
        topic=row["topic"] or "",
        private=bool(row["private"]),
        settings=RoomSettings(
            join_key=row.get("join_key") or "",
            member_limit=int(row.get("member_limit") or 0),
            topic_lock=_flag(row.get("topic_lock"), default.topic_lock),
            no_external=_flag(row.get("no_external"), default.no_external),
            moderated=_flag(row.get("moderated"), default.moderated),
        ),
        topic_set_by=row.get("topic_set_by") or "",
        topic_set_at=from_us(int(at)) if (at := row.get("topic_set_at")) is not None else None,
    )


def _flag(value: object, default: bool) -> bool:
    return default if value is None else bool(value)
