"""The columns of a rooms row that an `update_room` writes, worked out once for both stores
(sql_rooms.py, cassandra_rooms.py): the settings asked for (only those of `settings_fields`,
when named), then the topic's (as each store keeps them: its own `topic_values`), then the
privacy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from torbit.core.models import RoomSettings

TopicValues = Callable[[str, str, datetime | None], dict[str, Any]]


def settings_values(settings: RoomSettings) -> dict[str, Any]:
    """The settings columns, named and ordered as RoomSettings' fields."""
    return dataclasses.asdict(settings)


def changed_values(
    topic_values: TopicValues,
    settings: RoomSettings | None,
    settings_fields: Collection[str] | None,
    topic: str | None,
    topic_by: str,
    topic_at: datetime | None,
    private: bool | None,
    /,
) -> dict[str, Any]:
    """The columns to set, in that order (a store's statement names them so); none: nothing
    to write. `update_room`'s arguments, positionally: its two stores are the callers."""
    values = settings_values(settings) if settings is not None else {}
    if settings_fields is not None:
        values = {k: v for k, v in values.items() if k in settings_fields}
    if topic is not None:
        values.update(topic_values(topic, topic_by, topic_at))
    if private is not None:
        values["private"] = private
    return values
